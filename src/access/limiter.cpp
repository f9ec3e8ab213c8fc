#include "access/limiter.h"

#include <algorithm>
#include <cmath>

namespace cityroom::access {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPruneInterval = std::chrono::seconds(60);
// An address hammering with new user names must not grow the maps without bound.
constexpr std::size_t kThrottleEntriesMax = 100'000;

}  // namespace

std::optional<std::uint32_t> RateLimiter::take(const std::string& key) {
  if (rate_ <= 0) return std::nullopt;
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  if (now >= next_prune_) {
    // A bucket idle long enough to be full again is the same as no bucket.
    const auto full_after = std::chrono::duration<double>(burst_ / rate_);
    std::erase_if(buckets_, [&](const auto& kv) { return now - kv.second.at > full_after; });
    next_prune_ = now + kPruneInterval;
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.at = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(std::max(1.0, std::ceil((1 - b.tokens) / rate_)));
}

std::optional<std::uint32_t> LoginThrottle::wait_for(const Failures& f, Clock::time_point now) const {
  if (f.count < kFreeFailures || now >= f.until) return std::nullopt;
  return static_cast<std::uint32_t>(
      std::max<long>(1, std::chrono::ceil<std::chrono::seconds>(f.until - now).count()));
}

void LoginThrottle::note(Failures& f, Clock::time_point now) {
  ++f.count;
  if (f.count >= kFreeFailures) {
    const int exponent = std::min(f.count - kFreeFailures, 20);
    const auto wait = std::min<std::chrono::seconds>(std::chrono::seconds(1L << exponent), kLockoutMax);
    f.until = now + wait;
  }
}

std::optional<std::uint32_t> LoginThrottle::wait(const std::string& name, const std::string& address) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  std::optional<std::uint32_t> out;
  if (auto it = by_name_.find(name); it != by_name_.end()) out = wait_for(it->second, now);
  if (auto it = by_address_.find(address); it != by_address_.end()) {
    if (auto w = wait_for(it->second, now); w && (!out || *w > *out)) out = w;
  }
  return out;
}

void LoginThrottle::failed(const std::string& name, const std::string& address) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  if (by_name_.size() > kThrottleEntriesMax) {
    std::erase_if(by_name_, [&](const auto& kv) { return now >= kv.second.until; });
  }
  if (by_address_.size() > kThrottleEntriesMax) {
    std::erase_if(by_address_, [&](const auto& kv) { return now >= kv.second.until; });
  }
  note(by_name_[name], now);
  // An address gets more room than a name: several people may share one (a city hall NAT).
  Failures& a = by_address_[address];
  if (++a.count >= kFreeFailures * 4) {
    const int exponent = std::min(a.count - kFreeFailures * 4, 20);
    a.until = now + std::min<std::chrono::seconds>(std::chrono::seconds(1L << exponent), kLockoutMax);
  }
}

void LoginThrottle::succeeded(const std::string& name) {
  std::lock_guard lock(mutex_);
  by_name_.erase(name);
}

}  // namespace cityroom::access
