#include "http/core.h"

namespace cityroom::http::detail {

Core::Core(Limits limits_in, const Router& router_in, Metrics& metrics_in)
    : limits(limits_in),
      router(router_in),
      metrics(metrics_in),
      ioc(static_cast<int>(limits_in.threads)) {}

std::uint64_t Core::add_session(std::weak_ptr<Session> session) {
  std::lock_guard lock(registry_mutex_);
  const std::uint64_t id = ++next_session_id_;
  registry_.emplace(id, std::move(session));
  return id;
}

void Core::remove_session(std::uint64_t id) {
  std::lock_guard lock(registry_mutex_);
  registry_.erase(id);
}

std::vector<std::shared_ptr<Session>> Core::live_sessions() {
  std::vector<std::shared_ptr<Session>> out;
  std::lock_guard lock(registry_mutex_);
  out.reserve(registry_.size());
  for (const auto& [id, weak] : registry_) {
    if (auto session = weak.lock()) out.push_back(std::move(session));
  }
  return out;
}

}  // namespace cityroom::http::detail
