// live/feed: the hub's committed changes as one numbered sequence, for everything that reacts
// to change (subscriptions, screen streams, alarms later).
//
// The hub's change sink calls `publish` on the store's writer thread after each commit. The feed
// gives every change the next sequence number and keeps the most recent `capacity` of them in a
// ring; it never blocks on a reader and never allocates per reader. Each reader (a `Cursor`) runs
// on its own thread, waits for changes past its position and reads them from the ring; a reader
// that fell further behind than the ring holds learns exactly how many changes it missed and
// decides what to do (a screen stream resyncs, a subscription counts lost notifications). So a
// slow reader never slows the writer or another reader, and memory is bounded by the ring.
//
// Sequence numbers start at 1 in each process; `epoch` (fixed at construction, unique per
// process start) lets a client tell a restart from a gap.
// Thread-safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/base.h"
#include "hub/hub.h"

namespace cityroom::live {

inline constexpr std::size_t kFeedCapacityDefault = 16'384;  // changes kept for readers and resume

struct Event {
  std::uint64_t seq = 0;
  base::Micros at = 0;  // commit time
  hub::Change change;
};

class Feed {
 public:
  explicit Feed(std::size_t capacity = kFeedCapacityDefault);
  Feed(const Feed&) = delete;
  Feed& operator=(const Feed&) = delete;

  // The hub's change sink. Cheap: a lock, moves into the ring, one notify.
  void publish(const std::vector<hub::Change>& changes);
  hub::ChangeSink sink() {
    return [this](const std::vector<hub::Change>& c) { publish(c); };
  }

  std::uint64_t last_seq() const;
  const std::string& epoch() const { return epoch_; }
  std::size_t capacity() const { return ring_.size(); }

  // Copies the events with seq > after (at most `max`) into `out`. Returns the number of events
  // that were wanted but already overwritten (0 when the reader kept up).
  std::uint64_t read(std::uint64_t after, std::size_t max, std::vector<Event>& out) const;
  // Waits until an event with seq > after exists, `timeout` passes or `stop()` was called.
  // Returns false when stopped.
  bool wait(std::uint64_t after, std::chrono::milliseconds timeout) const;
  // Wakes every waiter for good (shutdown).
  void stop();

 private:
  std::vector<Event> ring_;
  std::string epoch_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::uint64_t last_ = 0;
  bool stopped_ = false;
};

}  // namespace cityroom::live
