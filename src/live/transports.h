// live/transports: the notification Transport cityroom runs with — http:// and https:// through
// a delivery::Deliverer (bounded queues per endpoint, keep-alive, retries, never blocking), and
// mqtt:// (mqtts://) by publishing to the broker named in the URI.
//
// MQTT: `mqtt://host[:port]/topic/levels` publishes to `topic/levels` with the QoS of the
// notifierInfo key `MQTT-QoS` (0 by default). As NGSI-LD says for MQTT, the message is
// {"metadata": {<headers: Content-Type, Link, receiverInfo keys>}, "body": <notification>}.
// One publishing client per broker (host:port), created on first use and kept; a notification
// counts as delivered once the client accepted it (libmosquitto then owns its delivery).
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "delivery/delivery.h"
#include "live/subscriptions.h"
#include "mqtt/mqtt.h"

namespace cityroom::live {

inline constexpr std::size_t kMqttBrokersMax = 64;  // distinct brokers notified at once

class Transports final : public Transport {
 public:
  explicit Transports(delivery::Options http_options);
  ~Transports() override;
  bool send(Notification n, std::function<void(const SendOutcome&)> done) override;
  // Stops the deliverer (bounded by `grace`) and the MQTT clients.
  void stop(std::chrono::milliseconds grace);
  delivery::Deliverer::Stats http_stats() const { return http_.stats(); }

 private:
  bool send_mqtt(Notification& n, const std::function<void(const SendOutcome&)>& done);
  mqtt::Client* broker(const std::string& host, int port, bool tls, std::string& error);

  delivery::Deliverer http_;
  std::mutex mutex_;  // guards brokers_
  std::map<std::string, std::unique_ptr<mqtt::Client>> brokers_;
};

}  // namespace cityroom::live
