#include "http/core.h"

namespace cityroom::http::detail {

Core::Core(Limits limits_in, const Router& router_in, Metrics& metrics_in)
    : limits(limits_in),
      router(router_in),
      metrics(metrics_in),
      ioc(static_cast<int>(limits_in.threads)) {}

std::uint64_t Core::add_connection(std::weak_ptr<Connection> connection) {
  std::lock_guard lock(registry_mutex_);
  const std::uint64_t id = ++next_connection_id_;
  registry_.emplace(id, std::move(connection));
  return id;
}

void Core::remove_connection(std::uint64_t id) {
  std::lock_guard lock(registry_mutex_);
  registry_.erase(id);
}

std::vector<std::shared_ptr<Connection>> Core::live_connections() {
  std::vector<std::shared_ptr<Connection>> out;
  std::lock_guard lock(registry_mutex_);
  out.reserve(registry_.size());
  for (const auto& [id, weak] : registry_) {
    if (auto connection = weak.lock()) out.push_back(std::move(connection));
  }
  return out;
}

}  // namespace cityroom::http::detail
