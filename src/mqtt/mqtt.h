// mqtt: a small MQTT 3.1.1 client on libmosquitto, and MQTT topic matching.
//
// `Client` owns one libmosquitto connection and its network thread (mosquitto_loop_start).
// It connects asynchronously, reconnects by itself with exponential backoff (capped) whenever the
// connection drops or the first attempt fails, and re-sends every subscription after each
// (re)connect, so a broker restart without persistence still ends with the subscriptions in
// place. With `clean_session = false` (the default) the broker keeps the session while we are
// away and queues QoS 1 messages for our subscriptions.
//
// `publish` never blocks on the network: libmosquitto queues the message and the network thread
// sends it. QoS 1/2 messages published while disconnected wait in that queue and go out after
// the reconnect; QoS 0 messages published while disconnected are refused (ServiceUnavailable).
// The queue of unacknowledged QoS>0 publishes is bounded (`Options::outgoing_max`); beyond it
// publish answers ServiceUnavailable rather than growing without limit.
//
// A client used only to publish (e.g. NGSI-LD notifications to `mqtt://host:port/topic`) just
// never subscribes; give it `clean_session = true` or a unique client id.
//
// Threads: every public member may be called from any thread, including from the message
// handler. The message handler and nothing else runs on the network thread; it must return
// quickly (it delays keep-alives and every other message while it runs). `stop()` (and the
// destructor) joins the network thread, after which the handler is never called again.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"

namespace cityroom::mqtt {

inline constexpr std::size_t kTopicBytesMax = 65'535;  // MQTT's UTF-8 string limit
inline constexpr std::size_t kOutgoingMaxDefault = 50'000;

struct TlsOptions {
  std::string ca_file;    // PEM CA bundle; one of ca_file / ca_path is required
  std::string ca_path;    // directory of hashed CA certificates
  std::string cert_file;  // client certificate (PEM), optional
  std::string key_file;   // its private key (PEM), required with cert_file
  bool insecure = false;  // skip the server host name check (testing only)
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 1883;
  // Empty: libmosquitto picks a random id, which requires clean_session = true.
  std::string client_id;
  std::string username;  // empty: no authentication
  std::string password;
  int keepalive_s = 30;
  // false: the broker keeps our subscriptions and queues QoS 1 messages while we are away.
  bool clean_session = false;
  std::optional<TlsOptions> tls;
  int reconnect_delay_min_s = 1;                   // first retry after this, doubling ...
  int reconnect_delay_max_s = 30;                  // ... up to this
  std::size_t outgoing_max = kOutgoingMaxDefault;  // unacknowledged QoS>0 publishes
  std::string thread_name = "mqtt";  // of the network thread, for top -H and perf (<= 15 bytes)
};

// A received message. The views are valid only during the handler call.
struct Message {
  std::string_view topic;
  std::string_view payload;
  int qos = 0;
  bool retain = false;
};
using MessageHandler = std::function<void(const Message&)>;

struct Counters {
  bool connected = false;
  std::uint64_t connects = 0;           // successful CONNACKs
  std::uint64_t connection_losses = 0;  // unexpected disconnects
  std::uint64_t received = 0;           // messages handed to the handler
  std::uint64_t published = 0;          // publish calls accepted
  std::uint64_t publish_refused = 0;    // publish calls answered with an error
  std::uint64_t outgoing = 0;           // QoS>0 publishes not yet acknowledged by the broker
};

class Client {
 public:
  // Validates the options and creates the libmosquitto handle; does not connect yet.
  static base::Result<std::unique_ptr<Client>> create(Options options,
                                                      MessageHandler on_message = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts the network thread and the first connection attempt. A broker that is not reachable
  // yet is not an error: the thread keeps retrying with backoff. Errors are for what retrying
  // cannot fix (bad TLS files, thread creation). Call once.
  base::Result<void> start();
  // Disconnects cleanly and joins the network thread. Idempotent.
  void stop();

  // Remembers the subscription (sent again after every reconnect) and sends it now when
  // connected. InvalidRequest for a malformed filter or QoS outside 0..2.
  base::Result<void> subscribe(std::string filter, int qos);
  // Queues a message. InvalidRequest for a bad topic or QoS; ServiceUnavailable when the
  // outgoing queue is full, or for QoS 0 while disconnected.
  base::Result<void> publish(std::string_view topic, std::string_view payload, int qos = 0,
                             bool retain = false);

  bool connected() const;
  // Blocks until connected or the timeout passes; true when connected.
  bool wait_connected(std::chrono::milliseconds timeout) const;
  Counters counters() const;
  const Options& options() const;

  struct State;

 private:
  explicit Client(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

// ---- topics (pure functions) -------------------------------------------------------------

// A valid subscription filter: non-empty UTF-8, `+` and `#` only as whole levels, `#` last.
base::Result<void> check_filter(std::string_view filter);
// A valid publish topic: non-empty UTF-8 without wildcards.
base::Result<void> check_topic(std::string_view topic);
// Number of wildcard levels (`+` and `#`) in a valid filter.
std::size_t wildcard_count(std::string_view filter);

// Matches `topic` against a valid `filter`. On a match, the levels the wildcards stood for, in
// order: one level per `+`, and for `#` the rest of the topic (may be empty, or contain `/`).
// As MQTT says, wildcards at the first level do not match topics that start with `$`.
// The views point into `topic`.
std::optional<std::vector<std::string_view>> match_topic(std::string_view filter,
                                                         std::string_view topic);

}  // namespace cityroom::mqtt
