#include "live/feed.h"

#include <fmt/format.h>

namespace cityroom::live {

Feed::Feed(std::size_t capacity)
    : ring_(capacity == 0 ? 1 : capacity),
      epoch_(fmt::format("{:x}", static_cast<std::uint64_t>(base::now_micros()))) {}

void Feed::publish(const std::vector<hub::Change>& changes) {
  const base::Micros at = base::now_micros();
  {
    std::lock_guard lock(mutex_);
    for (const auto& c : changes) {
      ++last_;
      Event& slot = ring_[last_ % ring_.size()];
      slot.seq = last_;
      slot.at = at;
      slot.change = c;  // shares the entity versions; copies tenant and id strings
    }
  }
  changed_.notify_all();
}

std::uint64_t Feed::last_seq() const {
  std::lock_guard lock(mutex_);
  return last_;
}

std::uint64_t Feed::read(std::uint64_t after, std::size_t max, std::vector<Event>& out) const {
  std::lock_guard lock(mutex_);
  if (after >= last_) return 0;
  const std::uint64_t oldest = last_ >= ring_.size() ? last_ - ring_.size() + 1 : 1;
  std::uint64_t missed = 0;
  std::uint64_t from = after + 1;
  if (from < oldest) {
    missed = oldest - from;
    from = oldest;
  }
  for (std::uint64_t s = from; s <= last_ && max > 0; ++s, --max) {
    out.push_back(ring_[s % ring_.size()]);
  }
  return missed;
}

bool Feed::wait(std::uint64_t after, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return stopped_ || last_ > after; });
  return !stopped_;
}

void Feed::stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  changed_.notify_all();
}

}  // namespace cityroom::live
