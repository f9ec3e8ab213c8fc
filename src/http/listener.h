// Internal: accepts connections on one bound address and starts a Session for each, or turns
// the connection away with 503 when connections_max sessions are already open.
#pragma once

#include <memory>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http/core.h"
#include "http/session.h"

namespace cityroom::http::detail {

using Acceptor = asio::basic_socket_acceptor<asio::ip::tcp, Strand>;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // `acceptor` is open, bound and listening, on a strand of core->ioc.
  Listener(std::shared_ptr<Core> core, Acceptor acceptor);
  void start();
  void request_close();  // any thread

 private:
  void accept();
  void on_accept(boost::system::error_code ec, Socket socket);

  std::shared_ptr<Core> core_;
  Strand strand_;
  Acceptor acceptor_;
  Timer retry_timer_;
};

}  // namespace cityroom::http::detail
