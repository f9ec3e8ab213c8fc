// mqtt::Client on libmosquitto's threaded interface (mosquitto_loop_start).
#include <fmt/format.h>
#include <mosquitto.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>

#include "mqtt/mqtt.h"

namespace cityroom::mqtt {
namespace {

using base::ErrorKind;

// Message ids are 16 bits and libmosquitto reuses them; more unacknowledged messages than ids
// would make acknowledgements ambiguous.
constexpr std::size_t kOutgoingLimitMax = 60'000;
constexpr std::size_t kPayloadBytesMax = 268'435'455;  // MQTT's remaining-length limit

// mosquitto_lib_init/cleanup act on process-wide library state (OpenSSL, the random source)
// and are not thread-safe, so the one process-wide count of live clients is kept here: the
// library is initialised with the first client and cleaned up after the last.
class LibraryRef {
 public:
  LibraryRef() {
    std::lock_guard lock(mutex());
    if (count()++ == 0) mosquitto_lib_init();
  }
  ~LibraryRef() {
    std::lock_guard lock(mutex());
    if (--count() == 0) mosquitto_lib_cleanup();
  }
  LibraryRef(const LibraryRef&) = delete;
  LibraryRef& operator=(const LibraryRef&) = delete;

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::size_t& count() {
    static std::size_t n = 0;
    return n;
  }
};

std::string mosq_error(int rc) {
  if (rc == MOSQ_ERR_ERRNO) return std::string(std::strerror(errno));
  return mosquitto_strerror(rc);
}

base::Result<void> check_options(const Options& o) {
  if (o.host.empty()) return base::fail(ErrorKind::kInvalidRequest, "the MQTT host is empty");
  if (o.port <= 0 || o.port > 65535) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("the MQTT port {} is not in 1..65535", o.port));
  }
  if (!o.clean_session && o.client_id.empty()) {
    return base::fail(ErrorKind::kInvalidRequest,
                      "a persistent MQTT session (clean_session = false) needs a client id");
  }
  if (o.client_id.size() > 65535 || !base::is_valid_utf8(o.client_id)) {
    return base::fail(ErrorKind::kInvalidRequest, "the MQTT client id is not valid UTF-8");
  }
  if (o.keepalive_s < 5 || o.keepalive_s > 65535) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("the MQTT keepalive {} s is not in 5..65535", o.keepalive_s));
  }
  if (o.reconnect_delay_min_s < 1 || o.reconnect_delay_max_s < o.reconnect_delay_min_s) {
    return base::fail(ErrorKind::kInvalidRequest,
                      "MQTT reconnect delays must satisfy 1 <= min <= max (seconds)");
  }
  if (o.outgoing_max < 1 || o.outgoing_max > kOutgoingLimitMax) {
    return base::fail(
        ErrorKind::kInvalidRequest,
        fmt::format("the MQTT outgoing queue limit must be in 1..{}", kOutgoingLimitMax));
  }
  if (o.thread_name.empty() || o.thread_name.size() > 15) {
    return base::fail(ErrorKind::kInvalidRequest, "the MQTT thread name must have 1-15 bytes");
  }
  if (o.password.size() && o.username.empty()) {
    return base::fail(ErrorKind::kInvalidRequest, "an MQTT password needs a username");
  }
  if (o.tls) {
    if (o.tls->ca_file.empty() && o.tls->ca_path.empty()) {
      return base::fail(ErrorKind::kInvalidRequest, "MQTT TLS needs a CA file or a CA path");
    }
    if (o.tls->cert_file.empty() != o.tls->key_file.empty()) {
      return base::fail(ErrorKind::kInvalidRequest,
                        "an MQTT TLS client certificate needs its key file, and the reverse");
    }
  }
  return {};
}

}  // namespace

struct Client::State {
  LibraryRef library;
  Options options;
  MessageHandler on_message;
  mosquitto* mosq = nullptr;

  mutable std::mutex mutex;
  mutable std::condition_variable connected_cv;
  bool connected = false;
  bool started = false;
  bool stopped = false;
  bool loop_running = false;  // mosquitto_loop_start succeeded
  std::condition_variable stop_cv;
  std::thread connector;  // retries a first connection that failed at once (see start())
  std::vector<std::pair<std::string, int>> subscriptions;  // re-sent after every connect
  std::unordered_set<int> outgoing_mids;                   // QoS>0, awaiting PUBACK/PUBCOMP

  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> connection_losses{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> publish_refused{0};

  ~State() {
    if (mosq) mosquitto_destroy(mosq);
  }

  base::Result<void> refused(ErrorKind kind, std::string detail) {
    publish_refused.fetch_add(1, std::memory_order_relaxed);
    return base::fail(kind, std::move(detail));
  }
};

namespace {

Client::State& state_of(void* obj) {
  return *static_cast<Client::State*>(obj);
}

void on_connect(mosquitto* mosq, void* obj, int rc) {
  auto& s = state_of(obj);
  if (rc != 0) {
    // CONNACK refused (bad credentials, client id rejected): libmosquitto keeps retrying.
    spdlog::warn("mqtt {}:{}: connection refused: {}", s.options.host, s.options.port,
                 mosquitto_connack_string(rc));
    return;
  }
  if (s.connects.load(std::memory_order_relaxed) == 0) {
    pthread_setname_np(pthread_self(), s.options.thread_name.c_str());
  }
  std::vector<std::pair<std::string, int>> subs;
  {
    std::lock_guard lock(s.mutex);
    s.connected = true;
    subs = s.subscriptions;
  }
  s.connected_cv.notify_all();
  s.connects.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("mqtt {}:{}: connected", s.options.host, s.options.port);
  for (const auto& [filter, qos] : subs) {
    if (int r = mosquitto_subscribe(mosq, nullptr, filter.c_str(), qos); r != MOSQ_ERR_SUCCESS) {
      spdlog::warn("mqtt: subscribe {} failed: {}", filter, mosq_error(r));
    }
  }
}

void on_disconnect(mosquitto*, void* obj, int rc) {
  auto& s = state_of(obj);
  {
    std::lock_guard lock(s.mutex);
    s.connected = false;
  }
  if (rc != 0) {
    s.connection_losses.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("mqtt {}:{}: connection lost ({}); reconnecting", s.options.host, s.options.port,
                 mosq_error(rc));
  }
}

void on_publish(mosquitto*, void* obj, int mid) {
  auto& s = state_of(obj);
  std::lock_guard lock(s.mutex);
  s.outgoing_mids.erase(mid);
}

void on_message(mosquitto*, void* obj, const mosquitto_message* m) {
  auto& s = state_of(obj);
  s.received.fetch_add(1, std::memory_order_relaxed);
  if (!s.on_message) return;
  Message msg{m->topic ? std::string_view(m->topic) : std::string_view(),
              std::string_view(static_cast<const char*>(m->payload),
                               m->payload ? static_cast<std::size_t>(m->payloadlen) : 0),
              m->qos, m->retain};
  try {
    s.on_message(msg);
  } catch (const std::exception& e) {
    // An exception must not unwind through C code; the handler is expected not to throw.
    spdlog::error("mqtt: message handler threw on {}: {}", msg.topic, e.what());
  }
}

base::Result<void> apply_options(mosquitto* mosq, const Options& o) {
  auto check = [](int rc, std::string_view what) -> base::Result<void> {
    if (rc == MOSQ_ERR_SUCCESS) return {};
    return base::fail(ErrorKind::kInvalidRequest, fmt::format("MQTT {}: {}", what, mosq_error(rc)));
  };
  if (!o.username.empty()) {
    auto r = check(mosquitto_username_pw_set(mosq, o.username.c_str(),
                                             o.password.empty() ? nullptr : o.password.c_str()),
                   "username/password");
    if (!r) return r;
  }
  auto r = check(
      mosquitto_reconnect_delay_set(mosq, o.reconnect_delay_min_s, o.reconnect_delay_max_s, true),
      "reconnect delay");
  if (!r) return r;
  if (o.tls) {
    auto opt = [](const std::string& s) { return s.empty() ? nullptr : s.c_str(); };
    r = check(mosquitto_tls_set(mosq, opt(o.tls->ca_file), opt(o.tls->ca_path),
                                opt(o.tls->cert_file), opt(o.tls->key_file), nullptr),
              "TLS files");
    if (!r) return r;
    r = check(mosquitto_tls_insecure_set(mosq, o.tls->insecure), "TLS insecure flag");
    if (!r) return r;
  }
  mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
  return {};
}

}  // namespace

base::Result<std::unique_ptr<Client>> Client::create(Options options, MessageHandler handler) {
  if (auto ok = check_options(options); !ok) return std::unexpected(ok.error());
  auto state = std::make_shared<State>();
  state->options = std::move(options);
  state->on_message = std::move(handler);
  const auto& o = state->options;
  state->mosq = mosquitto_new(o.client_id.empty() ? nullptr : o.client_id.c_str(), o.clean_session,
                              state.get());
  if (!state->mosq) {
    return base::fail(ErrorKind::kInternalError,
                      fmt::format("cannot create an MQTT client: {}", std::strerror(errno)));
  }
  if (auto ok = apply_options(state->mosq, o); !ok) return std::unexpected(ok.error());
  mosquitto_connect_callback_set(state->mosq, on_connect);
  mosquitto_disconnect_callback_set(state->mosq, on_disconnect);
  mosquitto_publish_callback_set(state->mosq, on_publish);
  mosquitto_message_callback_set(state->mosq, on_message);
  return std::unique_ptr<Client>(new Client(std::move(state)));
}

Client::Client(std::shared_ptr<State> state) : state_(std::move(state)) {}

Client::~Client() {
  stop();
}

// libmosquitto's network thread only takes over once a connection attempt got under way: when
// mosquitto_connect_async fails at once (connection refused, no route, DNS), the thread of
// mosquitto_loop_start would wait forever. So the first connection is retried here, with the
// same backoff, and the network thread is started after the first attempt that gets going;
// from then on libmosquitto reconnects by itself.
namespace {

int first_connect(Client::State& s) {
  const auto& o = s.options;
  int rc = mosquitto_connect_async(s.mosq, o.host.c_str(), o.port, o.keepalive_s);
  if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_loop_start(s.mosq);
  if (rc == MOSQ_ERR_SUCCESS) {
    std::lock_guard lock(s.mutex);
    s.loop_running = true;
  }
  return rc;
}

void retry_first_connect(Client::State& s) {
  const auto& o = s.options;
  auto delay = std::chrono::seconds(o.reconnect_delay_min_s);
  while (true) {
    {
      std::unique_lock lock(s.mutex);
      if (s.stop_cv.wait_for(lock, delay, [&] { return s.stopped; })) return;
    }
    const int rc = first_connect(s);
    if (rc == MOSQ_ERR_SUCCESS) return;
    spdlog::warn("mqtt {}:{}: connection attempt failed ({}); retrying", o.host, o.port,
                 mosq_error(rc));
    delay = std::min(delay * 2, std::chrono::seconds(o.reconnect_delay_max_s));
  }
}

}  // namespace

base::Result<void> Client::start() {
  auto& s = *state_;
  {
    std::lock_guard lock(s.mutex);
    if (s.started) return base::fail(ErrorKind::kInternalError, "MQTT client started twice");
    s.started = true;
  }
  const auto& o = s.options;
  const int rc = first_connect(s);
  if (rc == MOSQ_ERR_SUCCESS) return {};
  if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_NOMEM) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("MQTT connect to {}:{}: {}", o.host, o.port, mosq_error(rc)));
  }
  // A broker that is down now is fine: keep trying in the background.
  spdlog::warn("mqtt {}:{}: first connection attempt failed ({}); retrying", o.host, o.port,
               mosq_error(rc));
  try {
    s.connector = std::thread([&s] { retry_first_connect(s); });
  } catch (const std::system_error& e) {
    return base::fail(ErrorKind::kInternalError,
                      fmt::format("cannot start the MQTT connect thread: {}", e.what()));
  }
  return {};
}

void Client::stop() {
  auto& s = *state_;
  {
    std::lock_guard lock(s.mutex);
    if (!s.started || s.stopped) return;
    s.stopped = true;
  }
  s.stop_cv.notify_all();
  if (s.connector.joinable()) s.connector.join();
  bool loop_running = false;
  {
    std::lock_guard lock(s.mutex);
    loop_running = s.loop_running;
  }
  if (loop_running) {
    mosquitto_disconnect(s.mosq);
    // Not forced: a cancelled thread could die inside the message handler holding its locks.
    // libmosquitto wakes the thread from a reconnect delay through its socket pair.
    mosquitto_loop_stop(s.mosq, false);
  }
  {
    std::lock_guard lock(s.mutex);
    s.connected = false;
  }
  s.connected_cv.notify_all();
}

base::Result<void> Client::subscribe(std::string filter, int qos) {
  if (auto ok = check_filter(filter); !ok) return ok;
  if (qos < 0 || qos > 2) {
    return base::fail(ErrorKind::kInvalidRequest, fmt::format("MQTT QoS {} is not 0, 1 or 2", qos));
  }
  auto& s = *state_;
  bool now = false;
  {
    std::lock_guard lock(s.mutex);
    s.subscriptions.emplace_back(filter, qos);
    now = s.connected;
  }
  // When not connected, on_connect sends it; sending twice is harmless.
  if (now) {
    if (int rc = mosquitto_subscribe(s.mosq, nullptr, filter.c_str(), qos);
        rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
      return base::fail(ErrorKind::kServiceUnavailable,
                        fmt::format("MQTT subscribe {}: {}", filter, mosq_error(rc)));
    }
  }
  return {};
}

base::Result<void> Client::publish(std::string_view topic, std::string_view payload, int qos,
                                   bool retain) {
  auto& s = *state_;
  if (auto ok = check_topic(topic); !ok) {
    return s.refused(ok.error().kind, std::move(ok.error().detail));
  }
  if (qos < 0 || qos > 2) {
    return s.refused(ErrorKind::kInvalidRequest, fmt::format("MQTT QoS {} is not 0, 1 or 2", qos));
  }
  if (payload.size() > kPayloadBytesMax) {
    return s.refused(ErrorKind::kPayloadTooLarge, "an MQTT payload is at most 256 MB");
  }
  const std::string topic_z(topic);
  int mid = 0;
  // The lock is held across mosquitto_publish so that the PUBACK callback cannot look for the
  // message id before it is recorded. Safe: in threaded mode mosquitto_publish only queues and
  // never takes the callback lock the network thread holds while it runs on_publish.
  std::lock_guard lock(s.mutex);
  if (s.stopped) return s.refused(ErrorKind::kServiceUnavailable, "the MQTT client is stopped");
  if (qos > 0 && s.outgoing_mids.size() >= s.options.outgoing_max) {
    return s.refused(
        ErrorKind::kServiceUnavailable,
        fmt::format("the MQTT outgoing queue is full ({} messages)", s.options.outgoing_max));
  }
  if (qos == 0 && !s.connected) {
    return s.refused(ErrorKind::kServiceUnavailable, "not connected to the MQTT broker");
  }
  int rc = mosquitto_publish(s.mosq, &mid, topic_z.c_str(), static_cast<int>(payload.size()),
                             payload.data(), qos, retain);
  // For QoS 1/2 while disconnected libmosquitto reports NO_CONN but keeps the message queued and
  // sends it after the reconnect, so that counts as accepted.
  if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && qos > 0)) {
    if (qos > 0) s.outgoing_mids.insert(mid);
    s.published.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  const auto kind = rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_NOMEM || rc == MOSQ_ERR_OVERSIZE_PACKET
                        ? ErrorKind::kServiceUnavailable
                        : ErrorKind::kInvalidRequest;
  return s.refused(kind, fmt::format("MQTT publish to {}: {}", topic, mosq_error(rc)));
}

bool Client::connected() const {
  std::lock_guard lock(state_->mutex);
  return state_->connected;
}

bool Client::wait_connected(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mutex);
  return state_->connected_cv.wait_for(lock, timeout, [&] { return state_->connected; });
}

Counters Client::counters() const {
  const auto& s = *state_;
  Counters c;
  {
    std::lock_guard lock(s.mutex);
    c.connected = s.connected;
    c.outgoing = s.outgoing_mids.size();
  }
  c.connects = s.connects.load(std::memory_order_relaxed);
  c.connection_losses = s.connection_losses.load(std::memory_order_relaxed);
  c.received = s.received.load(std::memory_order_relaxed);
  c.published = s.published.load(std::memory_order_relaxed);
  c.publish_refused = s.publish_refused.load(std::memory_order_relaxed);
  return c;
}

const Options& Client::options() const {
  return state_->options;
}

}  // namespace cityroom::mqtt
