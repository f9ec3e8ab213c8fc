#include "live/transports.h"

#include <charconv>

#include <boost/url/parse.hpp>
#include <fmt/format.h>

namespace cityroom::live {
namespace {

constexpr int kMqttDefaultPort = 1883;
constexpr int kMqttsDefaultPort = 8883;

SendOutcome failed(std::string error) {
  return {.delivered = false, .status = 0, .error = std::move(error), .at = base::now_micros()};
}

std::string_view header_name_for_mqtt(std::string_view lower) {
  if (lower == "content-type") return "Content-Type";
  if (lower == "link") return "Link";
  return lower;
}

}  // namespace

Transports::Transports(delivery::Options http_options) : http_(std::move(http_options)) {}

Transports::~Transports() { stop(std::chrono::milliseconds(0)); }

void Transports::stop(std::chrono::milliseconds grace) {
  http_.stop(grace);
  std::lock_guard lock(mutex_);
  for (auto& [key, client] : brokers_) client->stop();
  brokers_.clear();
}

bool Transports::send(Notification n, std::function<void(const SendOutcome&)> done) {
  if (n.uri.starts_with("mqtt://") || n.uri.starts_with("mqtts://")) return send_mqtt(n, done);
  delivery::Message m{std::move(n.uri), std::move(n.headers), std::move(n.body)};
  return http_.post(std::move(m), [done = std::move(done)](const delivery::Outcome& o) {
    done({.delivered = o.delivered, .status = o.status, .error = o.error, .at = o.at});
  });
}

mqtt::Client* Transports::broker(const std::string& host, int port, bool tls,
                                 std::string& error) {
  const std::string key = fmt::format("{}:{}:{}", tls ? "mqtts" : "mqtt", host, port);
  std::lock_guard lock(mutex_);
  if (auto it = brokers_.find(key); it != brokers_.end()) return it->second.get();
  if (brokers_.size() >= kMqttBrokersMax) {
    error = fmt::format("too many MQTT brokers (the limit is {})", kMqttBrokersMax);
    return nullptr;
  }
  mqtt::Options o;
  o.host = host;
  o.port = port;
  o.clean_session = true;  // publish only; no session to keep
  o.thread_name = "mqtt-notify";
  if (tls) o.tls = mqtt::TlsOptions{.ca_path = "/etc/ssl/certs"};
  auto client = mqtt::Client::create(o);
  if (!client) {
    error = client.error().detail;
    return nullptr;
  }
  if (auto r = (*client)->start(); !r) {
    error = r.error().detail;
    return nullptr;
  }
  auto* raw = client->get();
  brokers_.emplace(key, std::move(*client));
  return raw;
}

bool Transports::send_mqtt(Notification& n, const std::function<void(const SendOutcome&)>& done) {
  auto url = boost::urls::parse_uri(n.uri);
  if (!url || url->host().empty()) {
    done(failed(fmt::format("'{}' is not a usable mqtt URI", n.uri)));
    return true;
  }
  const bool tls = url->scheme() == "mqtts";
  int port = tls ? kMqttsDefaultPort : kMqttDefaultPort;
  if (url->has_port()) port = url->port_number();
  std::string topic(url->encoded_path());
  if (!topic.empty() && topic.front() == '/') topic.erase(0, 1);
  if (topic.empty()) {
    done(failed(fmt::format("'{}' names no topic", n.uri)));
    return true;
  }
  int qos = 0;
  for (const auto& [k, v] : n.notifier_info) {
    if (k == "MQTT-QoS") std::from_chars(v.data(), v.data() + v.size(), qos);
  }
  json::object metadata;
  for (const auto& [k, v] : n.headers) metadata[header_name_for_mqtt(k)] = v;
  auto body = json::parse(n.body);
  json::object message{{"metadata", std::move(metadata)},
                       {"body", body ? std::move(*body) : json::value(n.body)}};
  std::string error;
  auto* client = broker(std::string(url->host()), port, tls, error);
  if (!client) {
    done(failed(std::move(error)));
    return true;
  }
  auto published = client->publish(topic, json::serialize(message), std::clamp(qos, 0, 2));
  if (!published) {
    done(failed(published.error().detail));
    return true;
  }
  done({.delivered = true, .status = 0, .error = {}, .at = base::now_micros()});
  return true;
}

}  // namespace cityroom::live
