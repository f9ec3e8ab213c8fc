// Metrics: per-route status counters and one latency histogram, rendered for Prometheus.
#include <algorithm>
#include <array>
#include <cmath>
#include <mutex>

#include <fmt/format.h>

#include "http/http.h"

namespace cityroom::http {
namespace {

constexpr std::array<double, Metrics::kLatencyBuckets> kBucketBoundsS = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,   10.0};

// Label values may hold any text; the exposition format escapes \, " and newline.
std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::size_t bucket_index(std::chrono::microseconds latency) {
  const double seconds = static_cast<double>(latency.count()) / 1e6;
  auto it = std::lower_bound(kBucketBoundsS.begin(), kBucketBoundsS.end(), seconds);
  return static_cast<std::size_t>(it - kBucketBoundsS.begin());  // == size → only +Inf
}

}  // namespace

// A route answers with few distinct statuses; a fixed table of slots claimed by CAS keeps the
// hot path lock-free. Statuses beyond the table are lumped into the overflow map (rare).
struct Metrics::RouteCounters {
  static constexpr std::size_t kSlots = 24;
  std::array<std::atomic<int>, kSlots> status{};
  std::array<std::atomic<std::uint64_t>, kSlots> count{};
  std::mutex overflow_mutex;
  std::map<int, std::uint64_t> overflow;

  void add(int code) {
    for (std::size_t i = 0; i < kSlots; ++i) {
      int seen = status[i].load(std::memory_order_acquire);
      if (seen == 0) {
        int expected = 0;
        if (status[i].compare_exchange_strong(expected, code, std::memory_order_acq_rel)) {
          seen = code;
        } else {
          seen = expected;
        }
      }
      if (seen == code) {
        count[i].fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
    std::lock_guard lock(overflow_mutex);
    ++overflow[code];
  }

  std::map<int, std::uint64_t> snapshot() {
    std::map<int, std::uint64_t> out;
    for (std::size_t i = 0; i < kSlots; ++i) {
      const int code = status[i].load(std::memory_order_acquire);
      if (code != 0) out[code] += count[i].load(std::memory_order_relaxed);
    }
    std::lock_guard lock(overflow_mutex);
    for (const auto& [code, n] : overflow) out[code] += n;
    return out;
  }
};

Metrics::Metrics() = default;
Metrics::~Metrics() = default;

void Metrics::observe(std::string_view route, int status, std::chrono::microseconds latency) {
  RouteCounters* counters = nullptr;
  {
    std::shared_lock lock(mutex_);
    if (auto it = requests_.find(route); it != requests_.end()) counters = it->second.get();
  }
  if (counters == nullptr) {
    std::unique_lock lock(mutex_);
    auto& slot = requests_[std::string(route)];
    if (!slot) slot = std::make_unique<RouteCounters>();
    counters = slot.get();
  }
  // Counters are never removed, so the pointer stays valid after the lock is released.
  counters->add(status);

  const std::size_t bucket = bucket_index(latency);
  if (bucket < kLatencyBuckets) latency_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  latency_sum_us_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count())),
                            std::memory_order_relaxed);
  latency_count_.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::connection_opened() { open_connections_.fetch_add(1, std::memory_order_relaxed); }
void Metrics::connection_closed() { open_connections_.fetch_sub(1, std::memory_order_relaxed); }

void Metrics::channel_opened(ChannelKind kind) {
  open_channels_[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
}
void Metrics::channel_closed(ChannelKind kind) {
  open_channels_[static_cast<std::size_t>(kind)].fetch_sub(1, std::memory_order_relaxed);
}
void Metrics::channel_messages_sent(ChannelKind kind, std::uint64_t messages) {
  channel_messages_sent_[static_cast<std::size_t>(kind)].fetch_add(messages,
                                                                   std::memory_order_relaxed);
}
void Metrics::channel_send_refused(ChannelKind kind) {
  channel_sends_refused_[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
}
std::int64_t Metrics::open_channels(ChannelKind kind) const {
  return open_channels_[static_cast<std::size_t>(kind)].load(std::memory_order_relaxed);
}

void Metrics::rejected(std::string_view limit) {
  std::unique_lock lock(mutex_);
  auto it = rejected_.find(limit);
  if (it == rejected_.end()) it = rejected_.emplace(std::string(limit), 0).first;
  ++it->second;
}

std::string Metrics::prometheus_text() const {
  std::string out;
  std::shared_lock lock(mutex_);
  out += "# HELP cityroom_http_requests_total HTTP requests answered, by route pattern and status.\n";
  out += "# TYPE cityroom_http_requests_total counter\n";
  for (const auto& [route, counters] : requests_) {
    for (const auto& [code, n] : counters->snapshot()) {
      out += fmt::format("cityroom_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                         escape_label(route), code, n);
    }
  }

  out += "# HELP cityroom_http_request_duration_seconds Time from a request read to its answer written.\n";
  out += "# TYPE cityroom_http_request_duration_seconds histogram\n";
  // Read the total first so the cumulative buckets never exceed it in one scrape.
  const std::uint64_t count = latency_count_.load(std::memory_order_relaxed);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
    cumulative += latency_buckets_[i].load(std::memory_order_relaxed);
    out += fmt::format("cityroom_http_request_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                       kBucketBoundsS[i], std::min(cumulative, count));
  }
  out += fmt::format("cityroom_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", count);
  out += fmt::format("cityroom_http_request_duration_seconds_sum {}\n",
                     static_cast<double>(latency_sum_us_.load(std::memory_order_relaxed)) / 1e6);
  out += fmt::format("cityroom_http_request_duration_seconds_count {}\n", count);

  out += "# HELP cityroom_http_open_connections Client connections currently open.\n";
  out += "# TYPE cityroom_http_open_connections gauge\n";
  out += fmt::format("cityroom_http_open_connections {}\n", open_connections_.load());

  constexpr std::array<std::string_view, kChannelKinds> kKindLabels = {"websocket", "sse"};
  out += "# HELP cityroom_http_channels_open Server-push channels currently open, by kind.\n";
  out += "# TYPE cityroom_http_channels_open gauge\n";
  for (std::size_t i = 0; i < kChannelKinds; ++i) {
    out += fmt::format("cityroom_http_channels_open{{kind=\"{}\"}} {}\n", kKindLabels[i],
                       open_channels_[i].load(std::memory_order_relaxed));
  }
  out += "# HELP cityroom_http_channel_messages_sent_total Channel messages written to clients.\n";
  out += "# TYPE cityroom_http_channel_messages_sent_total counter\n";
  for (std::size_t i = 0; i < kChannelKinds; ++i) {
    out += fmt::format("cityroom_http_channel_messages_sent_total{{kind=\"{}\"}} {}\n",
                       kKindLabels[i], channel_messages_sent_[i].load(std::memory_order_relaxed));
  }
  out += "# HELP cityroom_http_channel_sends_refused_total Channel sends refused: queue full.\n";
  out += "# TYPE cityroom_http_channel_sends_refused_total counter\n";
  for (std::size_t i = 0; i < kChannelKinds; ++i) {
    out += fmt::format("cityroom_http_channel_sends_refused_total{{kind=\"{}\"}} {}\n",
                       kKindLabels[i], channel_sends_refused_[i].load(std::memory_order_relaxed));
  }

  out += "# HELP cityroom_http_rejected_total Requests or connections turned away by a limit.\n";
  out += "# TYPE cityroom_http_rejected_total counter\n";
  for (const auto& [limit, n] : rejected_) {
    out += fmt::format("cityroom_http_rejected_total{{limit=\"{}\"}} {}\n", escape_label(limit), n);
  }
  return out;
}

}  // namespace cityroom::http
