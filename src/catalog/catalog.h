// catalog: the dataset catalog — every import, connector and simulator feed is a dataset with
// its metadata (ko/en name, department, source, licence, update period) and its state (last
// success, last failure and why, record count), from which its freshness follows.
//
// Producers talk to the catalog through four calls: register_dataset(DatasetInfo) once at start,
// then record_success / record_failure after each run, and mark() for the states that are not a
// run's outcome (not configured, unreachable, simulated). Freshness is computed, never stored:
//   simulated / not-configured / unreachable  when marked so (a success clears the last two);
//   failed   when the last attempt failed;
//   stale    when there was never a success, or the last one is older than two update periods;
//   fresh    otherwise (an import without a period stays fresh after its success).
// The clock is injectable so tests walk through the transitions.
//
// The state is persisted as store records (kind "catalog.dataset") and reloaded at start; each
// dataset is mirrored as a `Dataset` entity (core context, default tenant) through the hub
// whenever its state or its freshness changes. `tick()` finds freshness changes that come only
// from time passing; `start()` runs it on a timer thread.
//
// Thread-safety: every public member may be called from any thread (one mutex); store and hub
// writes are asynchronous and never waited for under the lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/base.h"
#include "hub/hub.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"
#include "store/store.h"

namespace cityroom::catalog {

inline constexpr std::string_view kRecordKind = "catalog.dataset";
inline constexpr std::string_view kEntityPrefix = "urn:ngsi-ld:Dataset:";

enum class Kind { kImport, kConnector, kSimulator };
enum class Freshness { kFresh, kStale, kFailed, kSimulated, kNotConfigured, kUnreachable };
enum class Mark { kNone, kNotConfigured, kUnreachable, kSimulated };

std::string_view kind_name(Kind k);
std::string_view freshness_name(Freshness f);
std::optional<Kind> parse_kind(std::string_view s);

struct Text {
  std::string ko;
  std::string en;
};

// What a producer says about its dataset. `id`: [a-z0-9._-], 1-100 characters.
struct DatasetInfo {
  std::string id;
  Text name;
  Text department;
  std::string source;   // publisher / system, e.g. "서울 열린데이터광장"
  std::string licence;  // e.g. "KOGL Type 1"
  Kind kind = Kind::kImport;
  std::vector<std::string> entity_types;
  std::int64_t update_period_seconds = 0;  // 0: no schedule (an import run at start)
};

// Reads the `dataset` block of a mapping or connector config:
// {"id","name":{"ko","en"},"department":{"ko","en"},"source","licence","updatePeriodSeconds",
//  "kind","entityTypes"}; absent members keep `defaults`. Errors name the member.
base::Result<DatasetInfo> parse_dataset_info(const json::value& block, DatasetInfo defaults);
bool valid_dataset_id(std::string_view id);

struct DatasetState {
  DatasetInfo info;
  std::optional<base::Micros> last_success;
  std::optional<base::Micros> last_failure;
  std::string failure_reason;
  std::uint64_t record_count = 0;
  Mark mark = Mark::kNone;
};

Freshness freshness_at(const DatasetState& d, base::Micros now);
// The catalog entry as served by GET /cityroom/v1/datasets (docs/DATA-MODEL.md).
json::object to_json(const DatasetState& d, base::Micros now);

using Clock = std::function<base::Micros()>;

class Catalog {
 public:
  // `hub` may be null (no mirroring, no persistence: tests and `connector replay` dry runs).
  // `core` is the core context the Dataset entities are parsed with (needed when hub is set).
  Catalog(hub::Hub* hub, ldcontext::ContextPtr core, Clock clock = base::now_micros);
  ~Catalog();  // stop()
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // Reloads the persisted states (before any register). Unreadable records are skipped.
  base::Result<void> load();

  // Adds a dataset or refreshes its metadata (its persisted state is kept). A bad id is refused.
  base::Result<void> register_dataset(DatasetInfo info);
  // A run that produced `count` records at `at`. Clears not-configured/unreachable marks.
  void record_success(std::string_view id, std::uint64_t count, base::Micros at);
  // A run that failed at `at`, with a reason for people ("HTTP 500", "timeout after 10 s").
  void record_failure(std::string_view id, std::string reason, base::Micros at);
  void mark(std::string_view id, Mark m);
  // Unknown ids are ignored by the three calls above (a producer racing its registration).

  std::vector<json::object> list() const;  // ordered by id
  std::optional<json::object> get(std::string_view id) const;
  std::optional<DatasetState> state(std::string_view id) const;

  // Mirrors every dataset whose freshness changed since it was last mirrored. Returns how many.
  std::size_t tick();
  // Runs tick() every `interval` on a thread ("catalog-timer") until stop().
  void start(std::chrono::milliseconds interval = std::chrono::seconds(10));
  void stop();

 private:
  struct Entry {
    DatasetState state;
    std::optional<Freshness> mirrored;  // freshness of the last mirror
  };
  void changed_locked(Entry& e, base::Micros now);  // persist + mirror

  hub::Hub* hub_;
  ldcontext::ContextPtr core_;
  Clock clock_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::mutex timer_mutex_;
  std::condition_variable timer_cv_;
  bool stopping_ = false;
  std::thread timer_;
};

}  // namespace cityroom::catalog
