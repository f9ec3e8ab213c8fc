// A local HTTP/HTTPS server for the delivery tests: listens on 127.0.0.1 with a kernel-chosen
// port, records every request it receives (target, headers, body, which connection), and
// answers as told — a status per request, an optional delay, Connection: close, closing idle
// keep-alive connections silently, or not answering at all (blackhole).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cityroom::delivery::testing {

struct SinkOptions {
  bool tls = false;
  std::string cert_file, key_file;  // PEM, when tls
  bool blackhole = false;           // accept TCP, never read or answer
  // Status for the n-th request (0-based) across all connections; default 200.
  std::function<int(std::size_t n)> status;
  std::chrono::milliseconds delay{0};  // before each answer
  bool close_each = false;             // answer with Connection: close
  // Close a keep-alive connection that stays idle this long (0 = never), without telling.
  std::chrono::milliseconds close_idle_after{0};
};

struct Received {
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::size_t connection = 0;  // 1-based accept order
};

class Sink {
 public:
  explicit Sink(SinkOptions options = {});
  ~Sink();
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  std::uint16_t port() const { return port_; }
  std::string uri(const std::string& path = "/notify") const;
  std::vector<Received> received() const;
  std::size_t connections() const;
  // Waits until at least n requests were received or the deadline passes; true when reached.
  bool wait_for(std::size_t n, std::chrono::seconds deadline = std::chrono::seconds{30}) const;

  struct State;

 private:
  std::unique_ptr<State> state_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// A port on 127.0.0.1 where nothing listens (connection refused).
std::uint16_t dead_port();

// A fresh temporary directory with a self-signed certificate for 127.0.0.1/localhost
// (cert.pem, key.pem), made with the openssl command-line tool.
struct TestCert {
  std::string dir, cert_file, key_file;
};
TestCert make_self_signed_cert(const std::string& name);

}  // namespace cityroom::delivery::testing
