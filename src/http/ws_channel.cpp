// WsChannel: RFC 6455 over the handed-over socket with Boost.Beast's websocket::stream.
// The only translation unit that instantiates Beast's websocket templates (they are heavy).
//
// Beast does the protocol work: the 101 answer, answering client pings, keep-alive pings
// after a ping interval of silence and closing a peer silent for two (its idle timeout), the
// 1009 close for an oversize message, UTF-8 checks of text frames. permessage-deflate stays
// off (Beast's default): the CPU matters more than the bytes on a LAN of screens.
#include <string>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <spdlog/spdlog.h>

#include "http/channel.h"

namespace cityroom::http::detail {
namespace {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using boost::system::error_code;

constexpr std::uint16_t kCloseUnsupportedData = 1003;
constexpr int kIdleIntervals = 2;  // a peer silent this many ping intervals is gone

bool skipped_handshake_header(std::string_view name, std::string_view value) {
  const auto bad = [](std::string_view s) { return s.find_first_of("\r\n") != s.npos; };
  if (name.empty() || bad(name) || bad(value)) return true;
  std::string lower(name);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower == "connection" || lower == "upgrade" || lower == "content-length" ||
         lower == "transfer-encoding" || lower.starts_with("sec-websocket-");
}

class WsChannel final : public ChannelBase {
 public:
  WsChannel(Handover&& h, UpgradeRequest request)
      : ChannelBase(h.core, ChannelKind::kWebSocket, h.socket.get_executor(),
                    std::move(h.callbacks), std::move(h.remote_address)),
        ws_(std::move(h.socket)),
        request_(std::move(request)),
        headers_(std::move(h.headers)) {}

  void start() {
    if (!begin()) return;
    const Limits& limits = core().limits;
    websocket::stream_base::timeout timeout;
    timeout.handshake_timeout = limits.channel_close_timeout;
    timeout.idle_timeout = kIdleIntervals * limits.channel_ping_interval;
    timeout.keep_alive_pings = true;  // ping at half the idle timeout, i.e. every interval
    ws_.set_option(timeout);
    ws_.read_message_max(limits.channel_message_bytes_max);
    ws_.auto_fragment(false);  // one message, one frame
    ws_.text(true);
    ws_.set_option(websocket::stream_base::decorator(
        [headers = std::move(headers_)](websocket::response_type& response) {
          response.set(beast::http::field::server, "cityroom");
          for (const auto& [name, value] : headers) {
            if (!skipped_handshake_header(name, value)) response.insert(name, value);
          }
        }));
    ws_.async_accept(request_, [self = self()](error_code ec) { self->on_accept(ec); });
  }

 private:
  std::shared_ptr<WsChannel> self() {
    return std::static_pointer_cast<WsChannel>(shared_from_this());
  }

  void on_accept(error_code ec) {
    if (finished()) return;
    if (ec) {
      spdlog::debug("http: WebSocket handshake with {} failed: {}", remote_address(),
                    ec.message());
      return finish();
    }
    request_ = {};
    mark_open();
    if (!finished()) read();
  }

  void read() {
    ws_.async_read(read_buffer_,
                   [self = self()](error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(error_code ec) {
    if (finished()) return;
    // Closed by the peer (Beast answered its close), timed out, oversize (Beast sent 1009),
    // protocol error, or our own close completed: the connection is over.
    if (ec) return finish();
    if (ws_.got_binary()) {
      read_buffer_.clear();
      begin_close(kCloseUnsupportedData, "binary messages are not supported");
    } else {
      std::string message = beast::buffers_to_string(read_buffer_.data());
      read_buffer_.clear();
      deliver_received(std::move(message));
    }
    // Keep reading even while closing: the peer's close frame arrives through this read.
    if (!finished()) read();
  }

  void write_batch() override { write_next(0); }

  void write_next(std::size_t index) {
    if (index == batch_.size()) return on_batch_written({});
    ws_.async_write(asio::buffer(batch_[index].message),
                    [self = self(), index](error_code ec, std::size_t) {
                      if (ec) return self->on_batch_written(ec);
                      self->note_write_progress();
                      self->write_next(index + 1);
                    });
  }

  void close_transport(std::uint16_t code, const std::string& reason) override {
    // Any 16-bit code converts; begin_close has limited it to the ones RFC 6455 lets us send.
    const websocket::close_reason close_reason(static_cast<websocket::close_code>(code),
                                               beast::string_view(reason));
    ws_.async_close(close_reason,
                    [self = self()](error_code) { self->finish(); });
  }

  // Beast fails a connection by itself (protocol error, 1009, the peer's close frame), then
  // waits for the peer's FIN before our read completes. Its idle timer usually ends that wait
  // within a ping interval, but that is undocumented behaviour; this is the backstop, so a
  // peer that never sends its FIN cannot hold the connection past two intervals.
  void on_tick() override {
    if (ws_.is_open() || closing()) {
      ticks_not_open_ = 0;
      return;
    }
    if (++ticks_not_open_ >= kIdleIntervals) finish();
  }

  void cut_transport() override {
    error_code ec;
    ws_.next_layer().close(ec);
    // Beast's idle timer is not cancelled by a dropped connection; left armed it would hold
    // the io_context (and so Server::stop) until it fires while the Channel is referenced.
    websocket::stream_base::timeout off;
    off.handshake_timeout = websocket::stream_base::none();
    off.idle_timeout = websocket::stream_base::none();
    off.keep_alive_pings = false;
    ws_.set_option(off);
  }

  websocket::stream<Socket> ws_;
  UpgradeRequest request_;
  Headers headers_;
  beast::flat_buffer read_buffer_;
  int ticks_not_open_ = 0;
};

}  // namespace

void start_websocket_channel(Handover handover, UpgradeRequest request) {
  auto channel = std::make_shared<WsChannel>(std::move(handover), std::move(request));
  channel->start();
}

}  // namespace cityroom::http::detail
