// access/limiter: request rate limits (a token bucket per key and per client address) and
// login throttling (failed passwords per user name and per address), each answering how long
// to wait — the Retry-After of a 429. Thread-safe; memory is bounded by pruning idle buckets.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace cityroom::access {

class RateLimiter {
 public:
  // `per_second` tokens refill per second up to `burst`; per_second 0 turns the limit off.
  RateLimiter(double per_second, double burst) : rate_(per_second), burst_(burst) {}
  // nullopt: allowed (a token was taken); otherwise the seconds to wait (≥ 1).
  std::optional<std::uint32_t> take(const std::string& key);
  bool enabled() const { return rate_ > 0; }

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };
  double rate_, burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::chrono::steady_clock::time_point next_prune_{};
};

// Failed logins: after kFreeFailures in a row for a name (or from an address) each further
// attempt must wait 2^(n - kFreeFailures) seconds, up to kLockoutMax; success clears the name.
class LoginThrottle {
 public:
  static constexpr int kFreeFailures = 5;
  static constexpr std::chrono::seconds kLockoutMax{15 * 60};
  // Seconds to wait before `name` may try again from `address`; nullopt: it may try now.
  std::optional<std::uint32_t> wait(const std::string& name, const std::string& address);
  void failed(const std::string& name, const std::string& address);
  void succeeded(const std::string& name);

 private:
  struct Failures {
    int count = 0;
    std::chrono::steady_clock::time_point until{};
  };
  std::optional<std::uint32_t> wait_for(const Failures& f,
                                        std::chrono::steady_clock::time_point now) const;
  void note(Failures& f, std::chrono::steady_clock::time_point now);
  std::mutex mutex_;
  std::unordered_map<std::string, Failures> by_name_, by_address_;
};

}  // namespace cityroom::access
