// SseChannel: Server-Sent Events over the handed-over socket. The response head goes out
// first, then events framed here (`id:` and `data:` lines), each batch in one write. The
// client cannot send; a read stays pending only to notice it leaving (EOF or reset).
#include <array>
#include <ctime>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "http/channel.h"
#include "http/wire.h"

namespace cityroom::http::detail {
namespace {

using boost::system::error_code;

constexpr std::size_t kReadChunkBytes = 512;
constexpr std::string_view kKeepAlive = ":\n\n";

// "id: 7\ndata: line 1\ndata: line 2\n\n". CR, LF and CRLF all end a line for EventSource,
// so each becomes a line break between data lines rather than breaking the framing.
void append_event(std::string& out, std::string_view message, std::string_view event_id) {
  if (!event_id.empty()) {
    out += "id: ";
    out += event_id;
    out += '\n';
  }
  while (true) {
    const auto end = message.find_first_of("\r\n");
    out += "data: ";
    out += message.substr(0, end);
    out += '\n';
    if (end == std::string_view::npos) break;
    const std::size_t skip = (message[end] == '\r' && end + 1 < message.size() &&
                              message[end + 1] == '\n') ? 2 : 1;
    message.remove_prefix(end + skip);
  }
  out += '\n';
}

class SseChannel final : public ChannelBase {
 public:
  SseChannel(Handover&& h)
      : ChannelBase(h.core, ChannelKind::kEventStream, h.socket.get_executor(),
                    std::move(h.callbacks), std::move(h.remote_address)),
        socket_(std::move(h.socket)),
        headers_(std::move(h.headers)) {}

  void start() {
    if (!begin()) return;
    Item head;
    head.comment = true;
    format_event_stream_head(head.message, headers_, format_http_date(std::time(nullptr)));
    headers_.clear();
    enqueue_internal(std::move(head));
    read();
    mark_open();
  }

 private:
  std::shared_ptr<SseChannel> self() {
    return std::static_pointer_cast<SseChannel>(shared_from_this());
  }

  void write_batch() override {
    out_.clear();
    for (const Item& item : batch_) {
      if (item.comment) {
        out_ += item.message.empty() ? kKeepAlive : std::string_view(item.message);
      } else {
        append_event(out_, item.message, item.event_id);
      }
    }
    asio::async_write(socket_, asio::buffer(out_), [self = self()](error_code ec, std::size_t) {
      self->wrote_since_tick_ = true;
      self->on_batch_written(ec);
    });
  }

  // Nothing to say goodbye with: the stream ends with the connection.
  void close_transport(std::uint16_t, const std::string&) override {
    error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    finish();
  }

  void cut_transport() override {
    error_code ec;
    socket_.close(ec);
  }

  // A comment line keeps proxies and the browser from timing the stream out while quiet.
  void on_tick() override {
    if (!wrote_since_tick_ && !writing() && !closing()) {
      Item keep_alive;
      keep_alive.comment = true;
      enqueue_internal(std::move(keep_alive));
    }
    wrote_since_tick_ = false;
  }

  void read() {
    socket_.async_read_some(asio::buffer(read_chunk_),
                            [self = self()](error_code ec, std::size_t bytes) {
                              self->on_read(ec, bytes);
                            });
  }

  void on_read(error_code ec, std::size_t bytes) {
    if (finished()) return;
    if (ec) return finish();  // the client left
    // An EventSource never sends; anything else is a misbehaving client, read and dropped,
    // up to a bound so it cannot make us spin on its input forever.
    bytes_received_ += bytes;
    if (bytes_received_ > core().limits.channel_message_bytes_max) return finish();
    read();
  }

  Socket socket_;
  Headers headers_;
  std::array<char, kReadChunkBytes> read_chunk_{};
  std::size_t bytes_received_ = 0;
  std::string out_;
  bool wrote_since_tick_ = false;
};

}  // namespace

void start_event_stream_channel(Handover handover) {
  auto channel = std::make_shared<SseChannel>(std::move(handover));
  channel->start();
}

}  // namespace cityroom::http::detail
