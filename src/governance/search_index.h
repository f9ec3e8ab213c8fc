// governance/search_index: derived data for the governance screens, in its own SQLite file
// (<data-dir>/governance-index.db): a Korean full-text index (FTS5 with the hangul tokenizer)
// over ServiceRequest descriptions, Pledge titles and NewsItem titles and summaries, and a small table of each request's
// code, area, status and time for Open311 filtering and the request statistics.
//
// It is never the source of truth: `Indexer` rebuilds it from the hub at start and keeps it
// current from the change feed (live::Feed); when it falls further behind than the feed holds,
// it rebuilds. A read that must see the writes before it (an Open311 GET right after a POST)
// first waits for the indexer to catch up (Indexer::catch_up).
// Thread-safety: every member may be called from any thread (one connection behind a mutex;
// SQLite's work here is microseconds).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include "base/base.h"
#include "governance/requests.h"
#include "hub/hub.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"
#include "live/feed.h"

namespace cityroom::governance {

inline constexpr std::size_t kSearchLimitMax = 100;
inline constexpr std::size_t kSearchQueryBytesMax = 200;
inline constexpr int kCityUtcOffsetSeconds = 9 * 3600;  // Asia/Seoul: days and weeks for stats

struct SearchHit {
  std::string id;
  std::string type;
  std::string title;
  std::string snippet;
  double rank = 0;  // bm25, lower is better
};

class SearchIndex {
 public:
  static base::Result<std::unique_ptr<SearchIndex>> open(const std::filesystem::path& file);
  ~SearchIndex();

  // Indexes a Pledge, ServiceRequest or NewsItem (keyValues, short names); other types are
  // ignored.
  base::Result<void> upsert(std::string_view tenant, const json::object& kv);
  base::Result<void> remove(std::string_view tenant, std::string_view id);
  base::Result<void> clear();
  // Removes the tenant's rows whose id is not in `keep` (after a rebuild over the old rows).
  base::Result<std::size_t> retain(std::string_view tenant, const std::set<std::string>& keep);
  // Several upserts in one transaction (rebuilds).
  base::Result<void> upsert_many(std::string_view tenant, const std::vector<json::object>& kvs);

  // type: "" (all), "ServiceRequest", "Pledge" or "NewsItem". Errors: BadRequestData for an empty or
  // too long query.
  // Newest first by default (FTS5 walks its rowids backwards and stops at `limit`, so a
  // common word costs the same as a rare one); `by_relevance` orders by bm25, which ranks
  // every match first (tens of ms for a word in 20,000 requests).
  base::Result<std::vector<SearchHit>> search(std::string_view tenant, std::string_view q,
                                              std::string_view type, std::size_t limit,
                                              bool by_relevance = false);
  // Request ids (full entity ids) matching the Open311 filter, newest first.
  base::Result<std::vector<std::string>> request_ids(std::string_view tenant,
                                                     const RequestFilter& f);
  // {"from","to","total","open","closed","byCategory":[{code,name,count}],
  //  "byArea":[{area,count}],"byWeek":[{week,count}],"today":{"total","byArea"},
  //  "thisWeek":{"total","byArea"}}; `now` fixes today/this week (city time).
  base::Result<json::object> request_stats(std::string_view tenant, base::Micros from,
                                           base::Micros to, base::Micros now);
  std::size_t size();

 private:
  explicit SearchIndex(sqlite3* db) : db_(db) {}
  base::Result<void> upsert_locked(std::string_view tenant, const json::object& kv);
  sqlite3* db_;
  std::mutex mutex_;
};

// Keeps a SearchIndex current: rebuild from the hub (default tenant), then follow the feed.
class Indexer {
 public:
  Indexer(SearchIndex& index, hub::Hub& hub, live::Feed& feed, ldcontext::ContextPtr core);
  ~Indexer();
  void start();
  void stop();
  bool ready() const { return ready_.load(); }
  // Rebuilds now (on the calling thread); answers how many entities were indexed.
  base::Result<std::size_t> rebuild();
  // Waits (at most `max`) until every change committed before the call is indexed, so a
  // search or a statistic right after a write sees it. False on timeout (the caller answers
  // from the index as it is).
  bool catch_up(std::chrono::milliseconds max);

 private:
  void run();
  SearchIndex& index_;
  hub::Hub& hub_;
  live::Feed& feed_;
  ldcontext::ContextPtr core_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ready_{false};
  std::mutex applied_mutex_;
  std::condition_variable applied_changed_;
  std::uint64_t applied_ = 0;  // feed sequence number indexed up to
};

// ISO 8601 week ("2026-W47") of a time, in city time.
std::string iso_week(base::Micros t);
// Days since 1970-01-01 in city time.
long city_day(base::Micros t);

}  // namespace cityroom::governance
