// ChannelBase: the queue, writer, close and accounting both channel kinds share; and the
// WebSocket upgrade check. See channel.h.
#include "http/channel.h"

#include <utility>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace cityroom::http::detail {
namespace {

// RFC 6455 7.4: the close payload is at most 125 bytes, two of them the code.
constexpr std::size_t kCloseReasonBytesMax = 123;
constexpr std::uint16_t kCloseNormal = 1000;
constexpr std::uint16_t kCloseGoingAway = 1001;
constexpr std::uint16_t kCloseInternalError = 1011;
// A write that makes no progress for this many ping intervals means a peer that stopped
// reading; waiting longer would only hold the connection and its full queue.
constexpr int kStallIntervals = 2;
constexpr std::size_t kWebSocketKeyChars = 24;  // 16 bytes in base64

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether a comma-separated header value (Connection, Upgrade) holds `token`.
bool has_token(std::string_view list, std::string_view token) {
  while (true) {
    const auto comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

bool base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}

bool valid_websocket_key(std::string_view key) {
  key = trim(key);
  if (key.size() != kWebSocketKeyChars || !key.ends_with("==")) return false;
  for (std::size_t i = 0; i + 2 < key.size(); ++i) {
    if (!base64_char(key[i])) return false;
  }
  return true;
}

bool sendable_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

// Cuts at a UTF-8 character boundary so the peer's UTF-8 check still passes.
std::string fit_close_reason(std::string reason) {
  if (reason.size() <= kCloseReasonBytesMax) return reason;
  std::size_t end = kCloseReasonBytesMax;
  while (end > 0 && (static_cast<unsigned char>(reason[end]) & 0xC0) == 0x80) --end;
  reason.resize(end);
  return reason;
}

}  // namespace

std::optional<UpgradeProblem> websocket_upgrade_problem(const UpgradeFields& f) {
  const auto invalid = [](std::string detail, bool wrong_version = false) {
    return UpgradeProblem{{base::ErrorKind::kInvalidRequest, std::move(detail)}, wrong_version};
  };
  if (!has_token(f.connection, "upgrade") || !has_token(f.upgrade, "websocket")) {
    return invalid(
        "this resource is a WebSocket endpoint: send an opening handshake (GET with "
        "Connection: Upgrade and Upgrade: websocket)");
  }
  if (f.method != "GET") return invalid("a WebSocket opening handshake must be a GET request");
  if (f.version != 11) return invalid("a WebSocket opening handshake must be HTTP/1.1");
  if (!f.has_host) return invalid("a WebSocket opening handshake needs a Host header");
  if (trim(f.websocket_version) != "13") {
    return invalid("unsupported Sec-WebSocket-Version; this server speaks version 13", true);
  }
  if (!valid_websocket_key(f.key)) {
    return invalid("Sec-WebSocket-Key must be 16 bytes in base64");
  }
  return std::nullopt;
}

// ---- ChannelBase ----------------------------------------------------------------------------

ChannelBase::ChannelBase(std::shared_ptr<Core> core, ChannelKind kind, Strand strand,
                         ChannelCallbacks callbacks, std::string remote_address)
    : core_(std::move(core)),
      kind_(kind),
      strand_(std::move(strand)),
      tick_timer_(strand_),
      close_timer_(strand_),
      callbacks_(std::move(callbacks)),
      remote_address_(std::move(remote_address)) {
  core_->channels_live.fetch_add(1);
}

ChannelBase::~ChannelBase() {
  // finish() always runs before the last reference goes (every path ends there); this only
  // keeps the counts right should a start-up step have thrown.
  if (!finished_) {
    core_->channels_live.fetch_sub(1);
    core_->sessions_active.fetch_sub(1, std::memory_order_relaxed);
  }
}

bool ChannelBase::begin() {
  id_ = core_->add_connection(weak_from_this());
  registered_ = true;
  // Registered before this check, so a stop() that began meanwhile either sees the channel in
  // its sweep or is seen here.
  if (core_->stopping.load()) {
    finish();
    return false;
  }
  return true;
}

void ChannelBase::mark_open() {
  opened_ = true;
  {
    std::lock_guard lock(mutex_);
    accepting_ = !close_requested_;
  }
  core_->metrics.channel_opened(kind_);
  arm_tick();
  if (!callbacks_.opened) return;
  try {
    callbacks_.opened(shared_from_this());
  } catch (const std::exception& e) {
    spdlog::error("http: channel opened callback threw: {}", e.what());
    begin_close(kCloseInternalError, "internal error");
  } catch (...) {
    spdlog::error("http: channel opened callback threw a non-standard exception");
    begin_close(kCloseInternalError, "internal error");
  }
}

// ---- queue and writer -----------------------------------------------------------------------

bool ChannelBase::send(std::string message, std::string event_id) {
  if (event_id.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) return false;
  Item item{std::move(message), std::move(event_id)};
  const std::size_t bytes = item.bytes();
  bool post = false;
  {
    std::lock_guard lock(mutex_);
    if (!accepting_) return false;
    if (queued_bytes_.load(std::memory_order_relaxed) + bytes >
        core_->limits.channel_queue_bytes_max) {
      // Under the lock: finish() has not passed here, so the metrics are still alive.
      core_->metrics.channel_send_refused(kind_);
      return false;
    }
    queued_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    pending_.push_back(std::move(item));
    post = !std::exchange(pump_scheduled_, true);
  }
  if (post) post_pump();
  return true;
}

void ChannelBase::enqueue_internal(Item item) {
  bool start = false;
  {
    std::lock_guard lock(mutex_);
    queued_bytes_.fetch_add(item.bytes(), std::memory_order_relaxed);
    pending_.push_back(std::move(item));
    start = !std::exchange(pump_scheduled_, true);
  }
  if (start) pump();
}

// Posts even from the strand: a send() inside a callback must not start a write re-entrantly.
void ChannelBase::post_pump() {
  std::shared_lock lock(core_->post_mutex);
  if (core_->stopped) return;  // the server is gone; finish() has run or is about to
  asio::post(strand_, [self = shared_from_this()] { self->pump(); });
}

void ChannelBase::pump() {
  if (finished_ || writing_) return;
  {
    std::lock_guard lock(mutex_);
    if (pending_.empty()) {
      pump_scheduled_ = false;
    } else {
      batch_.swap(pending_);
    }
  }
  if (batch_.empty()) {
    if (closing_ && !close_started_) {
      close_started_ = true;
      close_transport(close_code_, close_reason_);
    }
    return;
  }
  writing_ = true;
  note_write_progress();
  write_batch();
}

void ChannelBase::on_batch_written(boost::system::error_code ec) {
  writing_ = false;
  std::size_t bytes = 0;
  std::uint64_t messages = 0;
  for (const Item& item : batch_) {
    bytes += item.bytes();
    if (!item.comment) ++messages;
  }
  batch_.clear();
  if (finished_) return;
  queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  if (ec) return finish();
  if (messages != 0) core_->metrics.channel_messages_sent(kind_, messages);
  pump();
}

// ---- closing --------------------------------------------------------------------------------

void ChannelBase::close(std::uint16_t code, std::string reason) {
  {
    std::lock_guard lock(mutex_);
    if (close_requested_) return;
    close_requested_ = true;
    accepting_ = false;
  }
  std::shared_lock lock(core_->post_mutex);
  if (core_->stopped) return;
  asio::post(strand_, [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
    self->begin_close(code, std::move(reason));
  });
}

void ChannelBase::request_shutdown() {
  asio::post(strand_, [self = shared_from_this()] {
    self->begin_close(kCloseGoingAway, "server stopping");
  });
}

void ChannelBase::request_close() {
  asio::post(strand_, [self = shared_from_this()] { self->finish(); });
}

void ChannelBase::begin_close(std::uint16_t code, std::string reason) {
  if (finished_ || closing_) return;
  if (!opened_) return finish();  // mid-handshake: nothing to flush, nobody to tell
  closing_ = true;
  {
    std::lock_guard lock(mutex_);
    close_requested_ = true;
    accepting_ = false;
  }
  close_code_ = sendable_close_code(code) ? code : kCloseNormal;
  close_reason_ = fit_close_reason(std::move(reason));
  close_timer_.expires_after(core_->limits.channel_close_timeout);
  close_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->on_close_deadline();
  });
  pump();
}

void ChannelBase::on_close_deadline() {
  if (finished_) return;
  spdlog::debug("http: channel to {} did not close within {} ms; cutting it", remote_address_,
                core_->limits.channel_close_timeout.count());
  finish();
}

void ChannelBase::finish() {
  if (finished_) return;
  finished_ = true;
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
    close_requested_ = true;
    pending_.clear();
  }
  queued_bytes_.store(0, std::memory_order_relaxed);
  tick_timer_.cancel();
  close_timer_.cancel();
  cut_transport();
  if (registered_) core_->remove_connection(id_);
  registered_ = false;
  core_->channels_live.fetch_sub(1);
  core_->sessions_active.fetch_sub(1, std::memory_order_relaxed);
  core_->metrics.connection_closed();
  if (!opened_) return;
  core_->metrics.channel_closed(kind_);
  auto callbacks = std::exchange(callbacks_, {});  // drop them: they may hold this channel
  if (!callbacks.closed) return;
  try {
    callbacks.closed();
  } catch (const std::exception& e) {
    spdlog::error("http: channel closed callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("http: channel closed callback threw a non-standard exception");
  }
}

void ChannelBase::deliver_received(std::string message) {
  if (closing_ || finished_ || !callbacks_.received) return;
  try {
    callbacks_.received(std::move(message));
  } catch (const std::exception& e) {
    spdlog::error("http: channel received callback threw: {}", e.what());
    begin_close(kCloseInternalError, "internal error");
  } catch (...) {
    spdlog::error("http: channel received callback threw a non-standard exception");
    begin_close(kCloseInternalError, "internal error");
  }
}

// ---- watchdog -------------------------------------------------------------------------------

void ChannelBase::arm_tick() {
  tick_timer_.expires_after(core_->limits.channel_ping_interval);
  tick_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->tick();
  });
}

void ChannelBase::tick() {
  if (finished_) return;
  if (writing_ && Clock::now() - write_started_at_ >=
                      kStallIntervals * core_->limits.channel_ping_interval) {
    spdlog::debug("http: channel to {} stopped reading; closing it", remote_address_);
    return finish();
  }
  on_tick();
  if (!finished_) arm_tick();
}

// ---- accessors ------------------------------------------------------------------------------

std::size_t ChannelBase::queued_bytes() const {
  return queued_bytes_.load(std::memory_order_relaxed);
}

bool ChannelBase::open() const {
  std::lock_guard lock(mutex_);
  return accepting_;
}

std::string_view ChannelBase::remote_address() const { return remote_address_; }

}  // namespace cityroom::http::detail

namespace cityroom::http {

bool is_websocket_upgrade(const Request& request) {
  const auto field = [&](std::string_view name) -> std::string_view {
    const std::string* value = request.header(name);
    return value ? std::string_view(*value) : std::string_view{};
  };
  detail::UpgradeFields fields{request.method,
                               request.version,
                               field("connection"),
                               field("upgrade"),
                               field("sec-websocket-key"),
                               field("sec-websocket-version"),
                               request.header("host") != nullptr};
  return !detail::websocket_upgrade_problem(fields).has_value();
}

}  // namespace cityroom::http
