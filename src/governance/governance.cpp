#include "governance/governance.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "geo/geo.h"
#include "governance/entity_view.h"

namespace cityroom::governance {

base::Result<std::unique_ptr<Governance>> Governance::open(hub::Hub& hub, live::Feed& feed,
                                                           ldcontext::ContextPtr core,
                                                           const Options& options) {
  // Without a catalogue Open311 lists no services (pledges and search still work).
  auto config = options.open311_config.empty() ? base::Result<Open311Config>(Open311Config{})
                                               : load_open311_config(options.open311_config);
  if (!config) return std::unexpected(config.error());
  auto index = SearchIndex::open(options.data_dir / "governance-index.db");
  if (!index) return std::unexpected(index.error());
  std::vector<PressTopic> topics;
  if (!options.open311_config.empty()) {
    const auto file = options.open311_config.parent_path() / "press_topics.json";
    std::error_code ec;
    if (std::filesystem::exists(file, ec)) {
      auto loaded = load_press_topics(file);
      if (!loaded) return std::unexpected(loaded.error());
      topics = std::move(*loaded);
    }
  }
  std::unique_ptr<Governance> g(
      new Governance(hub, feed, std::move(core), std::move(*config), std::move(*index),
                     options.formula_interval));
  g->press_topics_ = std::move(topics);
  return g;
}

Governance::Governance(hub::Hub& hub, live::Feed& feed, ldcontext::ContextPtr core,
                       Open311Config config, std::unique_ptr<SearchIndex> index,
                       std::chrono::seconds formula_interval)
    : hub_(hub),
      core_(std::move(core)),
      open311_(std::move(config)),
      index_(std::move(index)),
      indexer_(*index_, hub, feed, core_),
      formula_interval_(formula_interval) {}

Governance::~Governance() { stop(); }

void Governance::start() {
  indexer_.start();
  if (formula_interval_.count() > 0) formula_thread_ = std::thread([this] { run_formulas(); });
}

void Governance::stop() {
  {
    std::lock_guard lock(formula_mutex_);
    formula_stop_ = true;
  }
  formula_wake_.notify_all();
  if (formula_thread_.joinable()) formula_thread_.join();
  indexer_.stop();
}

void Governance::run_formulas() {
  std::unique_lock lock(formula_mutex_);
  while (!formula_wake_.wait_for(lock, formula_interval_, [this] { return formula_stop_; })) {
    lock.unlock();
    store::EntityQuery q;
    q.any_of_types = std::vector<std::string>{iri(kIndicatorType)};
    q.limit = 10'000;
    if (auto all = hub_.query("", q)) {
      for (const auto& e : all->entities) {
        const auto kv = key_values(*core_, e);
        if (str(kv, "source") != "formula") continue;
        recompute("", kv, period_of(str(kv, "periodicity"), base::now_micros()),
                  [id = str(kv, "id")](base::Result<double> r) {
                    if (!r) spdlog::warn("governance: indicator {}: {}", id, r.error().detail);
                  });
      }
    }
    lock.lock();
  }
}

void Governance::recompute(std::string tenant, const json::object& indicator,
                           const Period& period, hub::Callback<double> done) {
  const auto* formula = json::find(indicator, "formula");
  if (!formula || !formula->is_object()) {
    return done(base::fail(base::ErrorKind::kBadRequestData, "the indicator has no formula"));
  }
  auto value = compute_formula(hub_, *core_, tenant, formula->as_object(), period);
  if (!value) return done(std::unexpected(value.error()));
  const double v = *value;
  // Unchanged: no new history point (the timer runs every few minutes).
  if (str(indicator, "period") == period.label) {
    if (auto current = num(indicator, "indicatorValue"); current && *current == v) return done(v);
  }
  auto fragment = indicator_value_fragment(
      json::object{{"period", period.label}, {"value", v}, {"by", "formula"}},
      str(indicator, "periodicity"));
  if (!fragment) return done(std::unexpected(fragment.error()));
  auto entity = to_entity(*core_, *fragment, true);
  if (!entity) return done(std::unexpected(entity.error()));
  hub_.append_attrs(std::move(tenant), str(indicator, "id"), std::move(*entity), false,
                    [v, done](base::Result<hub::AttrsOutcome> r) {
                      if (!r) return done(std::unexpected(r.error()));
                      done(v);
                    });
}

SearchIndex& Governance::current_index() {
  (void)indexer_.catch_up(kCatchUpMax);
  return *index_;
}

std::optional<std::string> Governance::area_of(std::string_view tenant, double lon, double lat) {
  auto gq = geo::parse_geoquery("intersects", "Point", fmt::format("[{},{}]", lon, lat),
                                "location");
  if (!gq) return std::nullopt;
  const std::string location = core_->expand("location");
  const std::string level = iri("adminLevel");
  store::EntityQuery q;
  q.any_of_types = std::vector<std::string>{iri(kAreaType)};
  if (auto box = geo::candidate_box(*gq)) q.geo_box = store::EntityQuery::GeoBox{location, *box};
  q.limit = 5;
  q.predicate = [&](const model::Entity& e) {
    const auto* lv = json::find(e, level);
    if (!lv || !lv->is_array() || lv->as_array().empty()) return false;
    const auto* v = json::find(lv->as_array()[0].as_object(), "value");
    if (!v || !v->is_string() || v->as_string() != "dong") return false;
    const auto* loc = json::find(e, location);
    if (!loc || !loc->is_array() || loc->as_array().empty()) return false;
    const auto* g = json::find(loc->as_array()[0].as_object(), "value");
    if (!g) return false;
    auto geometry = geo::parse_geojson(*g);
    return geometry && geo::matches(*gq, *geometry);
  };
  auto r = hub_.query(tenant, q);
  if (!r || r->entities.empty()) return std::nullopt;
  return std::string(r->entities.front().at("id").as_string());
}

void Governance::submit_request(std::string tenant, NewRequest request,
                                hub::Callback<std::string> done) {
  auto entity = to_entity(*core_, request.entity, false);
  if (!entity) return done(std::unexpected(entity.error()));
  auto create = [this, tenant, id = request.id, entity = std::move(*entity),
                 done](base::Result<store::WorkOutput> stored) mutable {
    if (!stored) return done(std::unexpected(stored.error()));
    // No index write here: this runs on the store's writer thread, which must never wait
    // on the index's lock. A GET right after sees the request through current_index().
    hub_.create(tenant, std::move(entity), [id, done](base::Result<void> created) {
      if (!created) return done(std::unexpected(created.error()));
      done(id);
    });
  };
  if (request.contact.empty()) return create(store::WorkOutput{});
  const std::string doc = json::serialize(request.contact);
  hub_.store().write(
      [tenant, id = request.id, doc](store::Transaction& tx) -> base::Result<store::WorkOutput> {
        if (auto r = tx.put_record(kContactRecordKind, tenant, id, doc); !r) {
          return std::unexpected(r.error());
        }
        return store::WorkOutput{};
      },
      std::move(create));
}

base::Result<std::optional<json::object>> Governance::contact_of(std::string_view tenant,
                                                                 std::string_view id) {
  // The store reads records by kind only (they are loaded at start elsewhere); a contact
  // lookup is a staff action on one request, rare enough for a scan.
  auto records = hub_.store().records(kContactRecordKind);
  if (!records) return std::unexpected(records.error());
  for (const auto& r : *records) {
    if (r.tenant == tenant && r.id == id) {
      auto doc = json::parse(r.doc);
      if (doc && doc->is_object()) return std::optional<json::object>(doc->as_object());
    }
  }
  return std::optional<json::object>();
}

}  // namespace cityroom::governance
