// The dataset catalog: states, freshness, persistence as store records, the Dataset mirror.
#include "catalog/catalog.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "model/model.h"

namespace cityroom::catalog {
namespace {

using base::ErrorKind;

base::Error bad(std::string_view where, std::string_view message) {
  return base::Error{ErrorKind::kInvalidRequest, fmt::format("dataset.{}: {}", where, message)};
}

base::Result<std::string> string_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v->is_string()) return std::unexpected(bad(key, "must be a string"));
  return std::string(v->get_string());
}

base::Result<Text> text_member(const json::object& o, std::string_view key, Text text) {
  const auto* v = o.if_contains(key);
  if (v->is_string()) return Text{std::string(v->get_string()), std::string(v->get_string())};
  if (!v->is_object()) return std::unexpected(bad(key, "must be {\"ko\": ..., \"en\": ...}"));
  for (const auto& [k, x] : v->get_object()) {
    if (!x.is_string() || (k != "ko" && k != "en")) {
      return std::unexpected(bad(key, "must be {\"ko\": ..., \"en\": ...} of strings"));
    }
    (k == "ko" ? text.ko : text.en) = std::string(x.get_string());
  }
  return text;
}

json::value text_json(const Text& t) { return json::object{{"ko", t.ko}, {"en", t.en}}; }

json::value time_json(const std::optional<base::Micros>& t) {
  return t ? json::value(base::format_iso8601(*t)) : json::value(nullptr);
}

std::string_view mark_name(Mark m) {
  switch (m) {
    case Mark::kNotConfigured: return "not-configured";
    case Mark::kUnreachable: return "unreachable";
    case Mark::kSimulated: return "simulated";
    case Mark::kNone: break;
  }
  return "";
}

Mark parse_mark(std::string_view s) {
  if (s == "not-configured") return Mark::kNotConfigured;
  if (s == "unreachable") return Mark::kUnreachable;
  if (s == "simulated") return Mark::kSimulated;
  return Mark::kNone;
}

std::optional<base::Micros> time_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return base::parse_iso8601(v->get_string());
}

// The persisted record: the served shape without freshness, plus the mark.
std::string record_doc(const DatasetState& d) {
  auto o = to_json(d, 0);
  o.erase("freshness");
  o["mark"] = mark_name(d.mark);
  return json::serialize(o);
}

std::optional<DatasetState> from_record(std::string_view doc) {
  auto parsed = json::parse(doc);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  const auto& o = parsed->get_object();
  json::object info = o;
  for (auto k : {"lastSuccess", "lastFailure", "failureReason", "recordCount", "mark"}) {
    info.erase(k);
  }
  auto i = parse_dataset_info(info, {});
  if (!i) return std::nullopt;
  DatasetState d;
  d.info = std::move(*i);
  d.last_success = time_member(o, "lastSuccess");
  d.last_failure = time_member(o, "lastFailure");
  if (const auto* r = o.if_contains("failureReason"); r && r->is_string()) {
    d.failure_reason = r->get_string();
  }
  if (const auto* c = o.if_contains("recordCount"); c && c->is_int64() && c->get_int64() >= 0) {
    d.record_count = static_cast<std::uint64_t>(c->get_int64());
  } else if (c && c->is_uint64()) {
    d.record_count = c->get_uint64();
  }
  if (const auto* m = o.if_contains("mark"); m && m->is_string()) d.mark = parse_mark(m->get_string());
  return d;
}

json::object property(json::value v) {
  return json::object{{"type", "Property"}, {"value", std::move(v)}};
}

// The Dataset entity in terms (core context): the catalog entry's members as Properties; null
// members are left out.
json::object entity_of(const DatasetState& d, base::Micros now) {
  json::object e{{"id", std::string(kEntityPrefix) + d.info.id}, {"type", "Dataset"}};
  for (auto& [k, v] : to_json(d, now)) {
    if (k == "id" || v.is_null()) continue;
    if (v.is_array() && v.get_array().empty()) continue;
    e[k] = property(v);
  }
  return e;
}

}  // namespace

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::kImport: return "import";
    case Kind::kConnector: return "connector";
    case Kind::kSimulator: return "simulator";
  }
  return "import";
}

std::optional<Kind> parse_kind(std::string_view s) {
  if (s == "import") return Kind::kImport;
  if (s == "connector") return Kind::kConnector;
  if (s == "simulator") return Kind::kSimulator;
  return std::nullopt;
}

std::string_view freshness_name(Freshness f) {
  switch (f) {
    case Freshness::kFresh: return "fresh";
    case Freshness::kStale: return "stale";
    case Freshness::kFailed: return "failed";
    case Freshness::kSimulated: return "simulated";
    case Freshness::kNotConfigured: return "not-configured";
    case Freshness::kUnreachable: return "unreachable";
  }
  return "stale";
}

bool valid_dataset_id(std::string_view id) {
  if (id.empty() || id.size() > 100) return false;
  return std::ranges::all_of(id, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

base::Result<DatasetInfo> parse_dataset_info(const json::value& block, DatasetInfo info) {
  if (!block.is_object()) {
    return base::fail(ErrorKind::kInvalidRequest, "dataset: must be an object");
  }
  const auto& o = block.get_object();
  for (const auto& [k, v] : o) {
    const std::string_view key = k;
    if (key == "id" || key == "source" || key == "licence") {
      auto s = string_member(o, key);
      if (!s) return std::unexpected(s.error());
      (key == "id" ? info.id : key == "source" ? info.source : info.licence) = *s;
    } else if (key == "name" || key == "department") {
      auto t = text_member(o, key, key == "name" ? info.name : info.department);
      if (!t) return std::unexpected(t.error());
      (key == "name" ? info.name : info.department) = *t;
    } else if (key == "kind") {
      const auto kind = v.is_string() ? parse_kind(v.get_string()) : std::nullopt;
      if (!kind) return std::unexpected(bad(key, "must be import, connector or simulator"));
      info.kind = *kind;
    } else if (key == "updatePeriodSeconds") {
      if (!v.is_int64() || v.get_int64() < 0) {
        return std::unexpected(bad(key, "must be a non-negative integer"));
      }
      info.update_period_seconds = v.get_int64();
    } else if (key == "entityTypes") {
      if (!v.is_array()) return std::unexpected(bad(key, "must be an array of strings"));
      info.entity_types.clear();
      for (const auto& t : v.get_array()) {
        if (!t.is_string()) return std::unexpected(bad(key, "must be an array of strings"));
        info.entity_types.emplace_back(t.get_string());
      }
    } else {
      return std::unexpected(bad(key, "unknown member (known: id, name, department, source, "
                                      "licence, kind, entityTypes, updatePeriodSeconds)"));
    }
  }
  if (!valid_dataset_id(info.id)) {
    return std::unexpected(bad("id", fmt::format("'{}' is not 1-100 of [a-z0-9._-]", info.id)));
  }
  return info;
}

Freshness freshness_at(const DatasetState& d, base::Micros now) {
  switch (d.mark) {
    case Mark::kSimulated: return Freshness::kSimulated;
    case Mark::kNotConfigured: return Freshness::kNotConfigured;
    case Mark::kUnreachable: return Freshness::kUnreachable;
    case Mark::kNone: break;
  }
  if (d.last_failure && (!d.last_success || *d.last_failure >= *d.last_success)) {
    return Freshness::kFailed;
  }
  if (!d.last_success) return Freshness::kStale;
  if (d.info.update_period_seconds <= 0) return Freshness::kFresh;
  const base::Micros allowed = 2 * d.info.update_period_seconds * 1'000'000;
  return now - *d.last_success > allowed ? Freshness::kStale : Freshness::kFresh;
}

json::object to_json(const DatasetState& d, base::Micros now) {
  json::array types;
  for (const auto& t : d.info.entity_types) types.emplace_back(t);
  return json::object{
      {"id", d.info.id},
      {"name", text_json(d.info.name)},
      {"department", text_json(d.info.department)},
      {"source", d.info.source},
      {"licence", d.info.licence},
      {"kind", kind_name(d.info.kind)},
      {"entityTypes", std::move(types)},
      {"updatePeriodSeconds", d.info.update_period_seconds},
      {"lastSuccess", time_json(d.last_success)},
      {"lastFailure", time_json(d.last_failure)},
      {"failureReason",
       d.failure_reason.empty() ? json::value(nullptr) : json::value(d.failure_reason)},
      {"recordCount", d.record_count},
      {"freshness", freshness_name(freshness_at(d, now))},
  };
}

Catalog::Catalog(hub::Hub* hub, ldcontext::ContextPtr core, Clock clock)
    : hub_(hub), core_(std::move(core)), clock_(std::move(clock)) {}

Catalog::~Catalog() { stop(); }

base::Result<void> Catalog::load() {
  if (!hub_) return {};
  auto records = hub_->store().records(kRecordKind);
  if (!records) return std::unexpected(records.error());
  std::lock_guard lock(mutex_);
  for (const auto& r : *records) {
    if (!r.tenant.empty()) continue;
    auto d = from_record(r.doc);
    if (!d) {
      spdlog::warn("catalog: skipping unreadable record {}", r.id);
      continue;
    }
    // The mirror written before the restart holds this freshness.
    auto& e = entries_[d->info.id];
    e.mirrored = freshness_at(*d, clock_());
    e.state = std::move(*d);
  }
  return {};
}

base::Result<void> Catalog::register_dataset(DatasetInfo info) {
  if (!valid_dataset_id(info.id)) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("dataset id '{}' is not 1-100 of [a-z0-9._-]", info.id));
  }
  std::lock_guard lock(mutex_);
  auto& e = entries_[info.id];
  e.state.info = std::move(info);
  changed_locked(e, clock_());
  return {};
}

void Catalog::record_success(std::string_view id, std::uint64_t count, base::Micros at) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(id);
  if (it == entries_.end()) return;
  auto& d = it->second.state;
  d.last_success = at;
  d.record_count = count;
  if (d.mark == Mark::kNotConfigured || d.mark == Mark::kUnreachable) d.mark = Mark::kNone;
  changed_locked(it->second, clock_());
}

void Catalog::record_failure(std::string_view id, std::string reason, base::Micros at) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(id);
  if (it == entries_.end()) return;
  auto& d = it->second.state;
  d.last_failure = at;
  d.failure_reason = std::move(reason);
  changed_locked(it->second, clock_());
}

void Catalog::mark(std::string_view id, Mark m) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(id);
  if (it == entries_.end()) return;
  if (it->second.state.mark == m) return;
  it->second.state.mark = m;
  changed_locked(it->second, clock_());
}

std::vector<json::object> Catalog::list() const {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  std::vector<json::object> out;
  out.reserve(entries_.size());
  for (const auto& [id, e] : entries_) out.push_back(to_json(e.state, now));
  return out;
}

std::optional<json::object> Catalog::get(std::string_view id) const {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return to_json(it->second.state, now);
}

std::optional<DatasetState> Catalog::state(std::string_view id) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.state;
}

std::size_t Catalog::tick() {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (auto& [id, e] : entries_) {
    if (e.mirrored != freshness_at(e.state, now)) {
      changed_locked(e, now);
      ++n;
    }
  }
  return n;
}

void Catalog::changed_locked(Entry& e, base::Micros now) {
  e.mirrored = freshness_at(e.state, now);
  if (!hub_) return;
  const auto& d = e.state;
  hub_->store().write(
      [id = d.info.id, doc = record_doc(d)](store::Transaction& tx) -> base::Result<store::WorkOutput> {
        if (auto ok = tx.put_record(kRecordKind, "", id, doc); !ok) return std::unexpected(ok.error());
        return store::WorkOutput{};
      },
      [id = d.info.id](base::Result<store::WorkOutput> r) {
        if (!r) spdlog::warn("catalog: cannot persist {}: {}", id, r.error().detail);
      });
  auto entity = entity_of(d, now);
  std::vector<hub::BatchItem> items;
  std::string id(entity.at("id").get_string());
  items.push_back({id, model::parse_entity(entity, *core_, {model::ParseMode::kEntity, false, now})});
  hub_->batch("", hub::BatchKind::kUpsertReplace, std::move(items),
              [id](base::Result<hub::BatchOutcome> r) {
                if (!r) {
                  spdlog::warn("catalog: cannot mirror {}: {}", id, r.error().detail);
                } else if (!r->errors.empty()) {
                  spdlog::warn("catalog: cannot mirror {}: {}", id, r->errors[0].error.detail);
                }
              });
}

void Catalog::start(std::chrono::milliseconds interval) {
  if (timer_.joinable()) return;
  stopping_ = false;
  timer_ = std::thread([this, interval] {
    pthread_setname_np(pthread_self(), "catalog-timer");
    std::unique_lock lock(timer_mutex_);
    while (!timer_cv_.wait_for(lock, interval, [this] { return stopping_; })) {
      lock.unlock();
      tick();
      lock.lock();
    }
  });
}

void Catalog::stop() {
  {
    std::lock_guard lock(timer_mutex_);
    stopping_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

}  // namespace cityroom::catalog
