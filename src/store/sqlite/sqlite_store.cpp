// The embedded Store: SQLite in WAL mode, one writer thread with group commit, a pool of read
// connections. Schema: schema.h; index semantics: entity_rows.h; query plans: query_engine.h.
#include <fmt/format.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "store/sqlite/db.h"
#include "store/sqlite/discovery.h"
#include "store/sqlite/entity_rows.h"
#include "store/sqlite/history.h"
#include "store/sqlite/history_retention.h"
#include "store/sqlite/query_engine.h"
#include "store/sqlite/read_pool.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sql.h"
#include "store/sqlite/writer.h"
#include "store/store.h"

namespace cityroom::store {

namespace {

using sqlite::Connection;

constexpr std::string_view kDbFileName = "cityroom.db";
constexpr int kBusyTimeoutMs = 5000;
// Index rows land at random places in the idx B-tree; bigger pages make it shallower, and a
// larger WAL lets a page rewritten by several group commits be checkpointed once.
// 4 KiB pages: a PATCH rewrites a few scattered pages, and each goes whole into the WAL; with
// 16 KiB pages attribute PATCHes ran ~25 % slower (8.3-9.5k/s against 11.3-11.6k/s here).
constexpr int kPageBytes = 4096;
constexpr int kWalAutocheckpointPages = 8000;     // ~32 MiB of WAL
constexpr int kJournalSizeLimitBytes = 64 << 20;  // the WAL file shrinks back after that
// History maintenance (sealing, retention) runs when the writer has been idle this long, or
// this often under a steady load (then between group commits, in its own bounded transaction).
constexpr auto kMaintainEvery = std::chrono::seconds(10);
constexpr std::size_t kBatchBuckets = 12;  // upper bounds 1, 2, 4, ..., 2048 = kGroupCommitMax
static_assert(std::size_t{1} << (kBatchBuckets - 1) == kGroupCommitMax);

std::size_t bucket_of(std::size_t batch_size) {
  std::size_t b = 0;
  while (b + 1 < kBatchBuckets && (std::size_t{1} << b) < batch_size) ++b;
  return b;
}

base::Error closed_error() {
  return {base::ErrorKind::kServiceUnavailable, "store is closed"};
}

// Runs `f`, turning any exception into an InternalError (none may leave the Store API).
template <class F>
auto guarded(std::string_view what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return base::fail(base::ErrorKind::kInternalError, fmt::format("{}: {}", what, e.what()));
  }
}

struct Item {
  Work work;
  Done done;
};

class SqliteStore final : public Store {
 public:
  ~SqliteStore() override { close(); }

  base::Result<void> open(const SqliteOptions& options);

  void write(Work work, Done done) override;
  base::Result<std::optional<model::Entity>> get(std::string_view tenant,
                                                 std::string_view id) override;
  base::Result<QueryResult> query(std::string_view tenant, const EntityQuery& q) override;
  base::Result<bool> tenant_exists(std::string_view tenant) override;
  base::Result<std::vector<TypeSummary>> types(std::string_view tenant) override;
  base::Result<std::vector<AttributeSummary>> attributes(std::string_view tenant) override;
  base::Result<std::vector<Record>> records(std::string_view kind) override;
  base::Result<std::vector<HistorySeries>> history(std::string_view tenant,
                                                   const HistoryQuery& q) override;
  base::Result<std::vector<std::vector<HistorySeries>>> history_many(
      std::string_view tenant, std::span<const std::string> ids, const HistoryQuery& q) override;
  base::Result<void> maintain_history() override;
  Stats stats() override;
  void close() override;

 private:
  base::Result<void> configure_writer(const SqliteOptions& options);
  void writer_loop();
  bool take_batch(std::vector<Item>& batch);
  void run_batch(std::vector<Item>& batch);
  void record_batch(std::size_t size);
  base::Micros now() const { return clock_ ? clock_() : base::now_micros(); }
  // One background maintenance transaction; true when more is left.
  bool maintain_once();

  std::unique_ptr<Connection> writer_conn_;
  HistoryPolicy policy_;
  std::function<base::Micros()> clock_;
  bool background_ = true;
  sqlite::MaintenanceState maintenance_;  // writer thread only
  std::unique_ptr<sqlite::WriteTxn> txn_;
  sqlite::ReadPool readers_;
  sqlite::NameIds history_names_;  // entity ids of history_many, shared by the readers

  std::mutex mu_;  // guards queue_ and stopping_
  std::condition_variable work_ready_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::thread writer_;

  std::mutex close_mu_;
  std::atomic<bool> closed_{false};

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> work_items_{0};
  std::atomic<std::int64_t> entities_{0};
  std::array<std::atomic<std::uint64_t>, kBatchBuckets> buckets_{};
};

// ---- open / close -------------------------------------------------------------------------

base::Result<void> SqliteStore::configure_writer(const SqliteOptions& options) {
  // page_size only applies to a new database, before its first table.
  auto mode = writer_conn_->exec(
      fmt::format("PRAGMA page_size = {}; PRAGMA journal_mode = WAL", kPageBytes));
  if (!mode) return mode;
  return writer_conn_->exec(fmt::format(
      "PRAGMA synchronous = {}; PRAGMA busy_timeout = {}; PRAGMA cache_size = -{}; "
      "PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = OFF; PRAGMA wal_autocheckpoint = {}; "
      "PRAGMA journal_size_limit = {}",
      options.synchronous_full ? "FULL" : "NORMAL", kBusyTimeoutMs, options.cache_mib * 1024,
      kWalAutocheckpointPages, kJournalSizeLimitBytes));
}

base::Result<void> SqliteStore::open(const SqliteOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return base::fail(base::ErrorKind::kInternalError,
                      fmt::format("cannot create data directory {}: {}", options.data_dir.string(),
                                  ec.message()));
  }
  const auto file = options.data_dir / kDbFileName;
  auto c = Connection::open(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!c) return std::unexpected(c.error());
  writer_conn_ = std::move(*c);
  policy_ = options.history_policy;
  clock_ = options.clock;
  background_ = options.history_background;
  if (auto r = configure_writer(options); !r) return r;
  if (auto r = sqlite::migrate(*writer_conn_); !r) return r;
  auto count = writer_conn_->query_int(sqlite::sql::kEntityCount);
  if (!count) return std::unexpected(count.error());
  entities_ = *count;
  const std::size_t readers = std::max<std::size_t>(options.read_connections, 1);
  if (auto r = readers_.open(file, readers, options.cache_mib * 1024 / readers); !r) return r;
  txn_ = std::make_unique<sqlite::WriteTxn>(*writer_conn_);
  writer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "store-writer");
    writer_loop();
  });
  return {};
}

void SqliteStore::close() {
  std::lock_guard close_lock(close_mu_);
  if (closed_) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  if (writer_.joinable()) writer_.join();
  readers_.close();
  if (writer_conn_) (void)writer_conn_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  txn_.reset();
  writer_conn_.reset();
  closed_ = true;
}

// ---- writes -------------------------------------------------------------------------------

void SqliteStore::write(Work work, Done done) {
  std::optional<base::Error> refused;
  {
    std::lock_guard lock(mu_);
    if (stopping_)
      refused = closed_error();
    else if (queue_.size() >= kWriteQueueMax)
      refused = base::Error{base::ErrorKind::kServiceUnavailable, "write queue full"};
    else
      queue_.push_back(Item{std::move(work), std::move(done)});
  }
  if (refused) {
    done(std::unexpected(*refused));
    return;
  }
  work_ready_.notify_one();
}

// Waits for work (at most kMaintainEvery); false when stopping and nothing is left, or when
// the wait timed out (batch empty).
bool SqliteStore::take_batch(std::vector<Item>& batch) {
  std::unique_lock lock(mu_);
  work_ready_.wait_for(lock, kMaintainEvery, [&] { return stopping_ || !queue_.empty(); });
  if (queue_.empty()) return false;
  const std::size_t n = std::min(queue_.size(), kGroupCommitMax);
  for (std::size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return true;
}

void SqliteStore::writer_loop() {
  std::vector<Item> batch;
  batch.reserve(kGroupCommitMax);
  auto next_maintenance = std::chrono::steady_clock::now() + kMaintainEvery;
  for (;;) {
    if (take_batch(batch)) {
      run_batch(batch);
      batch.clear();
    } else {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (background_ && std::chrono::steady_clock::now() >= next_maintenance) {
      // a pass that left work keeps going at the next turn, after any waiting writes
      next_maintenance = std::chrono::steady_clock::now() +
                         (maintain_once() ? std::chrono::seconds(0) : kMaintainEvery);
    }
  }
}

bool SqliteStore::maintain_once() {
  if (!writer_conn_->run("BEGIN IMMEDIATE")) return false;
  auto more = sqlite::maintain_history(*writer_conn_, policy_, now(), false, maintenance_);
  if (more && writer_conn_->run("COMMIT")) return *more;
  if (sqlite3_get_autocommit(writer_conn_->handle()) == 0) (void)writer_conn_->run("ROLLBACK");
  maintenance_ = {};
  return false;
}

base::Result<void> SqliteStore::maintain_history() {
  for (;;) {
    auto more = std::make_shared<bool>(false);
    std::promise<base::Result<WorkOutput>> p;
    auto f = p.get_future();
    write(
        [this, more](Transaction&) -> base::Result<WorkOutput> {
          auto m = sqlite::maintain_history(*writer_conn_, policy_, now(), true, maintenance_);
          if (!m) return std::unexpected(m.error());
          *more = *m;
          return WorkOutput{};
        },
        [&p](base::Result<WorkOutput> r) { p.set_value(std::move(r)); });
    auto r = f.get();
    if (!r) return std::unexpected(r.error());
    if (!*more) return {};
  }
}

void SqliteStore::run_batch(std::vector<Item>& batch) {
  std::vector<base::Result<WorkOutput>> results;
  results.reserve(batch.size());
  auto begun = txn_->begin_batch();
  for (Item& item : batch) {
    if (!begun)
      results.emplace_back(std::unexpected(begun.error()));
    else
      results.push_back(txn_->run_item(item.work));
    if (begun && txn_->batch_lost()) {
      begun = base::fail(
          base::ErrorKind::kInternalError,
          "the write transaction was abandoned by SQLite: " +
              (results.back() ? std::string("unknown cause") : results.back().error().detail));
    }
  }
  auto committed = begun ? txn_->commit_batch() : std::unexpected(begun.error());
  if (committed) entities_ += txn_->committed_delta();
  record_batch(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!committed) results[i] = std::unexpected(committed.error());
    try {
      batch[i].done(std::move(results[i]));
    } catch (...) {
      // A callback's failure is its own; the writer keeps serving the others.
    }
  }
}

void SqliteStore::record_batch(std::size_t size) {
  ++commits_;
  work_items_ += size;
  ++buckets_[bucket_of(size)];
}

Stats SqliteStore::stats() {
  Stats s;
  s.commits = commits_;
  s.work_items = work_items_;
  {
    std::lock_guard lock(mu_);
    s.queue_depth = queue_.size();
  }
  for (const auto& b : buckets_) s.batch_size_buckets.push_back(b);
  s.entities = static_cast<std::uint64_t>(std::max<std::int64_t>(entities_, 0));
  s.state = closed_ ? "closed" : "ok";
  return s;
}

// ---- reads --------------------------------------------------------------------------------

base::Result<std::optional<model::Entity>> SqliteStore::get(std::string_view tenant,
                                                            std::string_view id) {
  return guarded("get", [&]() -> base::Result<std::optional<model::Entity>> {
    auto lease = readers_.take();
    if (!lease) return std::unexpected(lease.error());
    auto s = (**lease).prepare(sqlite::sql::kDocByName);
    if (!s) return std::unexpected(s.error());
    auto row = s->bind(1, tenant).bind(2, id).step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::optional<model::Entity>();
    auto e = sqlite::parse_doc(s->blob_at(0));
    if (!e) return std::unexpected(e.error());
    return std::optional<model::Entity>(std::move(*e));
  });
}

base::Result<QueryResult> SqliteStore::query(std::string_view tenant, const EntityQuery& q) {
  return guarded("query", [&]() -> base::Result<QueryResult> {
    auto lease = readers_.take();
    if (!lease) return std::unexpected(lease.error());
    return sqlite::run_query(**lease, tenant, q, true);
  });
}

base::Result<bool> SqliteStore::tenant_exists(std::string_view tenant) {
  if (tenant == kDefaultTenant)
    return !closed_ ? base::Result<bool>(true) : std::unexpected(closed_error());
  return guarded("tenant_exists", [&]() -> base::Result<bool> {
    auto lease = readers_.take();
    if (!lease) return std::unexpected(lease.error());
    auto s = (**lease).prepare(sqlite::sql::kTenantExists);
    if (!s) return std::unexpected(s.error());
    return s->bind(1, tenant).step();
  });
}

base::Result<std::vector<TypeSummary>> SqliteStore::types(std::string_view tenant) {
  return guarded("types", [&]() -> base::Result<std::vector<TypeSummary>> {
    auto lease = readers_.take();
    if (!lease) return std::unexpected(lease.error());
    return sqlite::discover_types(**lease, tenant);
  });
}

base::Result<std::vector<AttributeSummary>> SqliteStore::attributes(std::string_view tenant) {
  return guarded("attributes", [&]() -> base::Result<std::vector<AttributeSummary>> {
    auto lease = readers_.take();
    if (!lease) return std::unexpected(lease.error());
    return sqlite::discover_attributes(**lease, tenant);
  });
}

base::Result<std::vector<Record>> SqliteStore::records(std::string_view kind) {
  return guarded("records", [&]() -> base::Result<std::vector<Record>> {
    auto lease = readers_.take();
    if (!lease) return std::unexpected(lease.error());
    auto s = (**lease).prepare(sqlite::sql::kRecordsOfKind);
    if (!s) return std::unexpected(s.error());
    s->bind(1, kind);
    std::vector<Record> out;
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      out.push_back({std::string(s->text_at(0)), std::string(s->text_at(1)),
                     std::string(s->text_at(2))});
    }
    return out;
  });
}

// A history read spans several statements (chunks, then head points) while the writer seals
// head points into chunks in its own transactions: one read transaction gives the statements
// one snapshot, so a point being sealed is seen exactly once. Ends it on every path.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(sqlite::Connection& c) : c_(c), ok_(c.run("BEGIN").has_value()) {}
  ~ReadSnapshot() {
    if (ok_) (void)c_.run("COMMIT");
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  bool ok() const { return ok_; }

 private:
  sqlite::Connection& c_;
  bool ok_;
};

base::Result<std::vector<HistorySeries>> SqliteStore::history(std::string_view tenant,
                                                              const HistoryQuery& q) {
  return guarded("history", [&]() -> base::Result<std::vector<HistorySeries>> {
    auto lease = readers_.take();
    if (!lease) return std::unexpected(lease.error());
    ReadSnapshot snapshot(**lease);
    if (!snapshot.ok()) return base::fail(base::ErrorKind::kInternalError, "history: no snapshot");
    return sqlite::read_history(**lease, tenant, q);
  });
}

base::Result<std::vector<std::vector<HistorySeries>>> SqliteStore::history_many(
    std::string_view tenant, std::span<const std::string> ids, const HistoryQuery& q) {
  return guarded("history", [&]() -> base::Result<std::vector<std::vector<HistorySeries>>> {
    auto lease = readers_.take();
    if (!lease) return std::unexpected(lease.error());
    ReadSnapshot snapshot(**lease);
    if (!snapshot.ok()) return base::fail(base::ErrorKind::kInternalError, "history: no snapshot");
    return sqlite::read_history_many(**lease, history_names_, tenant, ids, q);
  });
}

}  // namespace

base::Result<std::vector<std::vector<HistorySeries>>> Store::history_many(
    std::string_view tenant, std::span<const std::string> ids, const HistoryQuery& q) {
  std::vector<std::vector<HistorySeries>> out;
  out.reserve(ids.size());
  HistoryQuery one = q;
  for (const auto& id : ids) {
    one.entity_id = id;
    auto series = history(tenant, one);
    if (!series) return std::unexpected(series.error());
    out.push_back(std::move(*series));
  }
  return out;
}

base::Result<std::unique_ptr<Store>> open_sqlite(const SqliteOptions& options) {
  return guarded("open", [&]() -> base::Result<std::unique_ptr<Store>> {
    auto store = std::make_unique<SqliteStore>();
    if (auto r = store->open(options); !r) {
      return base::fail(r.error().kind, fmt::format("cannot open the store in {}: {}",
                                                    options.data_dir.string(), r.error().detail));
    }
    return std::unique_ptr<Store>(std::move(store));
  });
}

}  // namespace cityroom::store
