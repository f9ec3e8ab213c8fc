// Internal: server-push channels (WebSocket, SSE) taken over from a Session.
//
// ChannelBase holds what both kinds share: the byte-bounded queue that send() fills from any
// thread, the single writer that drains it on the connection's strand, close() with its flush
// deadline, the write-stall watchdog, the connection accounting and the exactly-once `closed`.
// A subclass supplies the transport: how a batch of queued items is written, how the
// connection is closed politely, and how it is cut.
//
// Threads: send(), close(), queued_bytes(), open() and the Connection calls may come from any
// thread; everything else runs on the strand of the socket the Session handed over. `mutex_`
// guards only the pending queue and the open/closing flags shared with senders.
//
// Beast's websocket templates live in ws_channel.cpp alone (compile time); this header and
// sse_channel.cpp use no websocket header.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "base/base.h"
#include "http/core.h"

namespace cityroom::http::detail {

// What a Session hands to the channel that takes its connection over.
struct Handover {
  std::shared_ptr<Core> core;
  Socket socket;
  ChannelCallbacks callbacks;
  Headers headers;  // extra response headers from the handler
  std::string remote_address;
};

using UpgradeRequest = boost::beast::http::request<boost::beast::http::string_body>;

// Starts the WebSocket handshake on the handed-over socket. `request` has passed
// websocket_upgrade_error. Call on the socket's strand.
void start_websocket_channel(Handover handover, UpgradeRequest request);
// Writes the event-stream head and starts the SSE channel. Call on the socket's strand.
void start_event_stream_channel(Handover handover);

// The fields of an opening handshake that decide whether it is a valid WebSocket upgrade.
struct UpgradeFields {
  std::string_view method;
  unsigned version = 11;
  std::string_view connection;
  std::string_view upgrade;
  std::string_view key;
  std::string_view websocket_version;
  bool has_host = false;
};
struct UpgradeProblem {
  base::Error error;
  bool wrong_version = false;  // the answer carries Sec-WebSocket-Version: 13
};
std::optional<UpgradeProblem> websocket_upgrade_problem(const UpgradeFields& fields);

class ChannelBase : public Channel,
                    public Connection,
                    public std::enable_shared_from_this<ChannelBase> {
 public:
  ChannelBase(std::shared_ptr<Core> core, ChannelKind kind, Strand strand,
              ChannelCallbacks callbacks, std::string remote_address);
  ~ChannelBase() override;
  ChannelBase(const ChannelBase&) = delete;
  ChannelBase& operator=(const ChannelBase&) = delete;

  // Channel (any thread)
  bool send(std::string message, std::string event_id) final;
  void close(std::uint16_t code, std::string reason) final;
  std::size_t queued_bytes() const final;
  bool open() const final;
  std::string_view remote_address() const final;

  // Connection (any thread)
  void request_shutdown() final;  // close 1001 going away, flushing first
  void request_close() final;     // cut at once

 protected:
  struct Item {
    std::string message;
    std::string event_id;
    bool comment = false;  // SSE keep-alive, not a message
    std::size_t bytes() const { return message.size() + event_id.size() + 1; }
  };

  // Strand only, for subclasses.
  // Registers the channel; false when the server is already stopping (the channel is cut).
  bool begin();
  // The handshake is done: `opened` runs, the watchdog starts.
  void mark_open();
  // The writer moved bytes (WebSocket: one message of a batch); resets the stall watchdog.
  void note_write_progress() { write_started_at_ = Clock::now(); }
  // Queues an internal item (keep-alive comment) outside the budget check.
  void enqueue_internal(Item item);
  // Starts an orderly close (flush, then close_transport) from the strand.
  void begin_close(std::uint16_t code, std::string reason);
  // A subclass's write of `batch_` finished (ec set if it failed).
  void on_batch_written(boost::system::error_code ec);
  // The connection ended: cut the transport, account, run `closed` once.
  void finish();
  void deliver_received(std::string message);

  bool finished() const { return finished_; }
  bool closing() const { return closing_; }
  bool writing() const { return writing_; }
  Core& core() { return *core_; }
  const Strand& strand() const { return strand_; }

  // Transport hooks (strand).
  virtual void write_batch() = 0;  // write `batch_`, then call on_batch_written
  virtual void close_transport(std::uint16_t code, const std::string& reason) = 0;  // → finish
  virtual void cut_transport() = 0;  // close the socket now; pending operations abort
  virtual void on_tick() {}          // every ping interval while open

  std::deque<Item> batch_;  // what the writer in flight is writing (strand only)

 private:
  void post_pump();
  void pump();
  void arm_tick();
  void tick();
  void on_close_deadline();

  std::shared_ptr<Core> core_;
  const ChannelKind kind_;
  Strand strand_;
  Timer tick_timer_;
  Timer close_timer_;
  ChannelCallbacks callbacks_;
  const std::string remote_address_;
  std::uint64_t id_ = 0;
  bool registered_ = false;

  // Shared with senders.
  mutable std::mutex mutex_;
  std::deque<Item> pending_;
  bool accepting_ = false;       // send() may queue: open and close() not called
  bool pump_scheduled_ = false;  // a pump is posted or a write is in flight
  bool close_requested_ = false;
  std::atomic<std::size_t> queued_bytes_{0};

  // Strand only.
  bool opened_ = false;
  bool finished_ = false;
  bool closing_ = false;
  bool close_started_ = false;
  bool writing_ = false;
  std::uint16_t close_code_ = 1000;
  std::string close_reason_;
  Clock::time_point write_started_at_{};
};

}  // namespace cityroom::http::detail
