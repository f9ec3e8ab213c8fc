// cityroom's composition root: parses the command line, builds the store, the hub, the context
// store and the HTTP server, wires them, and waits for SIGINT/SIGTERM.
#include <csignal>
#include <fstream>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "access/cli.h"
#include "alarms/alarms.h"
#include "api/api.h"
#include "api/history_csv.h"
#include "app/listen_address.h"
#include "catalog/catalog.h"
#include "city/city.h"
#include "connectors/connectors.h"
#include "governance/governance.h"
#include "http/http.h"
#include "history/history.h"
#include "hub/hub.h"
#include "ingest/import.h"
#include "ingest/ingest.h"
#include "ldcontext/ldcontext.h"
#include "live/feed.h"
#include "live/streams.h"
#include "live/subscriptions.h"
#include "live/transports.h"
#include "simulator/simulator.h"
#include "store/store.h"
#include "webapp/webapp.h"

#ifndef CITYROOM_VERSION
#define CITYROOM_VERSION "0.0.0"
#endif
#ifndef CITYROOM_DATA_DIR
#define CITYROOM_DATA_DIR "data"
#endif

namespace cityroom::app {
namespace {

constexpr auto kShutdownGrace = std::chrono::milliseconds(4000);
// Notifications still queued at shutdown get this long; the rest end as failed ("stopped").
constexpr auto kNotificationGrace = std::chrono::milliseconds(500);

struct ServeOptions {
  std::string data_dir = "./var";
  std::string listen = "127.0.0.1:8080";
  std::string contexts_dir;
  std::size_t threads = 0;
  std::size_t body_bytes_max = 1024 * 1024;
  std::size_t connections_max = 4096;
  bool synchronous_full = false;
  std::string notify_ca_file;  // extra CA bundle for https notification endpoints
  std::string mqtt_config;  // MQTT ingestion config file; empty: no MQTT
  bool demo = false;        // run the demo simulator (docs/SIMULATOR.md)
  std::string scenario = "normal";
  std::uint64_t seed = simulator::kSeedDefault;
  double sim_rate = simulator::kRateDefault;
  std::string city;         // city file (data/cities/*.json); empty: no city
  access::ServeOptions access;
  std::optional<std::string> rules_dir;  // alarm rules; unset: the city's, "" for none
  std::string web_dir;  // the built screens (web/dist); empty: found like the contexts
  std::string open311_config;  // Open311 service catalogue; empty: the shipped one if found
  std::string history_policy;  // history retention file; empty: data/history/policy.json if any
};

// The shipped contexts: --contexts-dir, else next to the installed binary, else the source tree.
std::filesystem::path find_contexts_dir(const ServeOptions& o, const char* argv0) {
  namespace fs = std::filesystem;
  if (!o.contexts_dir.empty()) return o.contexts_dir;
  std::error_code ec;
  const fs::path exe = fs::canonical(fs::path(argv0), ec);
  for (const fs::path& candidate :
       {ec ? fs::path() : exe.parent_path() / "../share/cityroom/contexts",
        fs::path(CITYROOM_DATA_DIR) / "contexts", fs::path("data/contexts")}) {
    if (!candidate.empty() && fs::exists(candidate / "index.json", ec)) return candidate;
  }
  return {};
}

// --demo without --city runs the shipped demo city, Gangnam-gu (issue #5: `serve --demo` alone
// shows a real city).
std::string city_file(const ServeOptions& o) {
  namespace fs = std::filesystem;
  if (!o.city.empty() || !o.demo) return o.city;
  std::error_code ec;
  for (const fs::path candidate : {fs::path(CITYROOM_DATA_DIR) / "cities/gangnam.json",
                                   fs::path("data/cities/gangnam.json")}) {
    if (fs::exists(candidate, ec)) return candidate.string();
  }
  return {};
}

// --city: imports the city's changed mappings (before the server listens, so a first start
// answers with the whole city), registers them and the connectors in the catalog.
int open_city(const std::string& file, hub::Hub& hub, ldcontext::ContextStore& contexts,
              catalog::Catalog& catalog, std::optional<city::CityConfig>& config,
              std::unique_ptr<connectors::Runner>& runner) {
  if (file.empty()) return 0;
  auto c = city::load_city(file);
  if (!c) {
    std::cerr << "cityroom: --city: " << c.error().detail << "\n";
    return 2;
  }
  std::vector<connectors::ConnectorConfig> configs;
  for (const auto& entry : c->connectors) {
    auto cc = connectors::parse_connector_config(entry);
    if (!cc) {
      std::cerr << "cityroom: --city: " << file << ": " << cc.error().detail << "\n";
      return 2;
    }
    configs.push_back(std::move(*cc));
  }
  auto imported = city::import_city(*c, hub, contexts, &catalog,
                                    {.log = [](const std::string& line) {
                                      // stderr: the listening line must stay stdout's first
                                      std::cerr << "cityroom: import " << line << "\n";
                                    }});
  if (!imported) {
    std::cerr << "cityroom: --city: " << imported.error().detail << "\n";
    return 1;
  }
  runner = std::make_unique<connectors::Runner>(hub, contexts, catalog, std::move(configs));
  config = std::move(*c);
  return 0;
}

// The simulator's feeds are datasets like any other, marked simulated so every screen can badge
// them. Catalog updates are throttled: a tick commits many times a second.
// The simulator's feeds in the catalog, marked simulated (so every screen showing them says
// so). Idempotent: on start with --demo, or when the simulator is switched on at run time.
void register_simulator_datasets(catalog::Catalog& catalog) {
  for (const auto& f : simulator::feeds()) {
    catalog::DatasetInfo info;
    info.id = f.id;
    info.name = {std::string(f.name_ko), std::string(f.name_en)};
    info.department = {"스마트도시과", "Smart City Division"};
    info.source = "cityroom demo simulator (docs/SIMULATOR.md)";
    info.licence = "simulated";
    info.kind = catalog::Kind::kSimulator;
    info.entity_types.assign(f.entity_types.begin(), f.entity_types.end());
    info.update_period_seconds = f.period_seconds;
    if (auto ok = catalog.register_dataset(std::move(info)); !ok) {
      spdlog::warn("catalog: simulator feed {}: {}", f.id, ok.error().detail);
      continue;
    }
    catalog.mark(f.id, catalog::Mark::kSimulated);
  }
}

// Reports what the simulator wrote to its catalog entries (entries not registered are ignored).
void report_simulator_feeds(catalog::Catalog& catalog, simulator::Simulator& sim) {
  constexpr base::Micros kReportEvery = 10'000'000;
  // Runs on the store's writer thread only, so the totals need no lock.
  struct Totals {
    std::map<std::string, std::uint64_t, std::less<>> written;
    base::Micros reported = 0;
  };
  sim.on_tick([&catalog, totals = std::make_shared<Totals>()](const simulator::TickReport& r) {
    for (const auto& [id, n] : r.records) totals->written[std::string(id)] += n;
    const auto now = base::now_micros();
    if (now - totals->reported < kReportEvery) return;
    totals->reported = now;
    for (const auto& [id, n] : totals->written) catalog.record_success(id, n, now);
  });
}

// Alarm rules: --rules-dir, else the city's shipped rules (data/rules/<city id>) when present.
std::filesystem::path find_rules_dir(const ServeOptions& o,
                                     const std::optional<city::CityConfig>& c) {
  if (o.rules_dir) return *o.rules_dir;
  if (!c) return {};
  std::error_code ec;
  for (const std::filesystem::path root :
       {std::filesystem::path(CITYROOM_DATA_DIR), std::filesystem::path("data")}) {
    if (std::filesystem::is_directory(root / "rules" / c->id, ec)) return root / "rules" / c->id;
  }
  return {};
}

// History retention (docs/PERFORMANCE.md "History storage"): --history-policy, else
// data/history/policy.json when present (none is shipped: history is kept until configured).
base::Result<store::HistoryPolicy> find_history_policy(const ServeOptions& o) {
  if (!o.history_policy.empty()) return history::load_policy(o.history_policy);
  std::error_code ec;
  for (const std::filesystem::path root :
       {std::filesystem::path(CITYROOM_DATA_DIR), std::filesystem::path("data")}) {
    const auto file = root / "history" / "policy.json";
    if (std::filesystem::is_regular_file(file, ec)) return history::load_policy(file.string());
  }
  return store::HistoryPolicy{};
}

int serve(const ServeOptions& o, const char* argv0) {
  auto address = parse_listen_address(o.listen);
  if (!address) {
    std::cerr << "cityroom: --listen: " << address.error().detail << "\n";
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) {
    std::cerr << "cityroom: cannot create data dir " << o.data_dir << ": " << ec.message() << "\n";
    return 1;
  }

  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto history_policy = find_history_policy(o);
  if (!history_policy) {
    std::cerr << "cityroom: " << history_policy.error().detail << "\n";
    return 2;
  }
  auto store = store::open_sqlite({.data_dir = o.data_dir,
                                   .synchronous_full = o.synchronous_full,
                                   .history_policy = std::move(*history_policy)});
  if (!store) {
    std::cerr << "cityroom: cannot open the store: " << store.error().detail << "\n";
    return 1;
  }
  // Access control (issue #7): refuses --no-auth off loopback; creates the first admin.
  auto access_setup = access::Setup::start(o.access, o.data_dir, address->host, CITYROOM_DATA_DIR);
  if (!access_setup) {
    std::cerr << "cityroom: access control: " << access_setup.error().detail << "\n";
    (*store)->close();
    return 2;
  }
  const auto contexts_dir = find_contexts_dir(o, argv0);
  if (contexts_dir.empty()) {
    spdlog::warn("no shipped contexts found; only the built-in core context is available");
  }
  auto contexts = ldcontext::ContextStore::open(contexts_dir,
                                                std::filesystem::path(o.data_dir) / "contexts");
  if (!contexts) {
    std::cerr << "cityroom: cannot load contexts: " << contexts.error().detail << "\n";
    return 1;
  }

  // Every committed change is numbered in the feed; subscriptions (and screen streams) read it.
  live::Feed feed;
  hub::Hub hub(**store, feed.sink());
  // One connection per endpoint keeps each endpoint's notifications in commit order.
  std::unique_ptr<live::Transports> transports_owner;
  try {
    transports_owner = std::make_unique<live::Transports>(
        delivery::Options{.connections_per_endpoint = 1, .ca_file = o.notify_ca_file});
  } catch (const std::exception& e) {  // an unreadable --notify-ca-file
    std::cerr << "cityroom: --notify-ca-file: " << e.what() << "\n";
    return 2;
  }
  live::Transports& transports = *transports_owner;
  live::Subscriptions subscriptions(hub, feed, **contexts, transports);
  subscriptions.set_scope_filter([&access_setup](std::string_view scope, std::string_view tenant) {
    return (*access_setup)->access().scope_filter(scope, tenant);
  });
  if (auto loaded = subscriptions.load(); !loaded) {
    std::cerr << "cityroom: cannot load subscriptions: " << loaded.error().detail << "\n";
    return 1;
  }
  subscriptions.start();
  live::Streams streams(feed, hub, **contexts);
  catalog::Catalog catalog(&hub, (*contexts)->core());
  if (auto loaded = catalog.load(); !loaded) {
    std::cerr << "cityroom: cannot load the dataset catalog: " << loaded.error().detail << "\n";
    return 1;
  }
  std::optional<city::CityConfig> city_config;
  std::unique_ptr<connectors::Runner> connector_runner;
  if (int rc = open_city(city_file(o), hub, **contexts, catalog, city_config, connector_runner); rc) {
    return rc;
  }
  // Alarms read the same feed on their own thread; their Alerts are written through the hub.
  alarms::SystemClock alarm_clock;
  alarms::Notifier alarm_notifier(&transports);
  alarms::Engine alarm_engine(hub, feed, **contexts, alarm_notifier, alarm_clock, {});
  if (auto loaded = alarm_engine.load(find_rules_dir(o, city_config)); !loaded) {
    std::cerr << "cityroom: alarm rules: " << loaded.error().detail << "\n";
    return 2;
  }
  alarm_engine.start();
  // Pledges, requests to the mayor (Open311) and Korean search (docs/GOVERNANCE.md).
  std::filesystem::path open311_config = o.open311_config;
  for (const char* dir : {CITYROOM_DATA_DIR, "data"}) {
    const auto candidate = std::filesystem::path(dir) / "governance" / "open311.json";
    if (open311_config.empty() && std::filesystem::exists(candidate, ec)) open311_config = candidate;
  }
  auto governance = governance::Governance::open(
      hub, feed, (*contexts)->core(), {.data_dir = o.data_dir, .open311_config = open311_config});
  if (!governance) {
    std::cerr << "cityroom: governance: " << governance.error().detail << "\n";
    return 1;
  }
  // MQTT device ingestion (--mqtt-config): destroyed before the hub and the store; started
  // after the listening line, which must stay the first line on stdout.
  std::unique_ptr<ingest::MqttIngest> mqtt_ingest;
  if (!o.mqtt_config.empty()) {
    auto mqtt_config = ingest::load_mqtt_config(o.mqtt_config);
    if (!mqtt_config) {
      std::cerr << "cityroom: --mqtt-config: " << mqtt_config.error().detail << "\n";
      return 2;
    }
    mqtt_ingest = std::make_unique<ingest::MqttIngest>(hub, **contexts, std::move(*mqtt_config));
  }
  // The demo simulator: always there (admins may start it), running with --demo.
  const auto scenario = simulator::parse_scenario(o.scenario);
  if (!scenario || !(o.sim_rate > 0 && o.sim_rate <= simulator::kRateMax)) {
    std::cerr << "cityroom: --scenario must be one of " << simulator::scenario_names()
              << " and --sim-rate in (0, " << simulator::kRateMax << "]\n";
    return 2;
  }
  simulator::Simulator demo_simulator(
      hub, **contexts,
      {.tenant = "", .scenario = *scenario, .seed = o.seed, .rate = o.sim_rate, .clock = {}});
  report_simulator_feeds(catalog, demo_simulator);
  if (o.demo) register_simulator_datasets(catalog);
  http::Metrics metrics;
  api::Deps deps{hub, **contexts, (*access_setup)->access(), metrics, CITYROOM_VERSION};
  deps.subscriptions = &subscriptions;
  deps.streams = &streams;
  deps.simulator = &demo_simulator;
  deps.simulator_running = [&catalog, once = std::make_shared<std::once_flag>()] {
    std::call_once(*once, [&catalog] { register_simulator_datasets(catalog); });
  };
  deps.metric_sources.push_back(
      [&demo_simulator] { return simulator::prometheus_text(demo_simulator.status()); });
  deps.catalog = &catalog;
  if (city_config) deps.city = city::city_json(*city_config);
  deps.alarms = &alarm_engine;
  deps.metric_sources.push_back([&alarm_engine] { return alarm_engine.prometheus_text(); });
  deps.governance = governance->get();
  deps.metric_sources.push_back([&streams] { return live::prometheus_text(streams.stats()); });
  deps.metric_sources.push_back([&subscriptions] { return subscriptions.prometheus_text(); });
  deps.metric_sources.push_back([&mqtt_ingest] {
    return mqtt_ingest ? ingest::prometheus_text(mqtt_ingest->stats()) : std::string();
  });
  http::Router router;
  api::register_ngsi_ld(router, deps);
  api::register_system(router, deps);
  api::register_streams(router, deps);
  api::register_simulator(router, deps);
  api::register_catalog(router, deps);
  (*access_setup)->wire(router, deps);
  api::register_alarms(router, deps);
  {  // the screens at `/`: --web-dir, next to the installed binary, else the source tree's build
    std::error_code exe_ec;
    const auto exe = std::filesystem::canonical(std::filesystem::path(argv0), exe_ec);
    const auto web_dir = webapp::find_web_dir(
        o.web_dir, {exe_ec ? std::filesystem::path() : exe.parent_path() / "../share/cityroom/web",
                    std::filesystem::path(CITYROOM_DATA_DIR) / "../web/dist",
                    std::filesystem::path("web/dist")});
    auto site = web_dir.empty() ? base::Result<std::shared_ptr<const webapp::Site>>(
                                      webapp::Site::placeholder("no web/dist was found"))
                                : webapp::Site::load(web_dir);
    if (!site) spdlog::warn("screens not served: {}", site.error().detail);
    webapp::register_routes(router, (*access_setup)->access(),
                            site ? *site : webapp::Site::placeholder(site.error().detail));
  }
  api::register_governance(router, deps);

  http::Limits limits;
  limits.threads = o.threads;
  limits.body_bytes_max = o.body_bytes_max;
  limits.connections_max = o.connections_max;
  http::Server server(limits, router, metrics);
  auto port = server.listen(address->host, address->port);
  if (!port) {
    std::cerr << "cityroom: cannot listen on " << o.listen << ": " << port.error().detail << "\n";
    return 1;
  }
  server.start();
  const bool v6 = address->host.find(':') != std::string::npos;
  std::printf("cityroom listening on http://%s%s%s:%u\n", v6 ? "[" : "", address->host.c_str(),
              v6 ? "]" : "", static_cast<unsigned>(*port));
  std::fflush(stdout);
  (*governance)->start();  // logs; the listening line must stay the first line on stdout
  if (auto started = mqtt_ingest ? mqtt_ingest->start() : base::Result<void>{}; !started) {
    std::cerr << "cityroom: MQTT ingestion: " << started.error().detail << "\n";
    server.stop(kShutdownGrace);
    (*store)->close();
    return 1;
  }
  if (o.demo) {
    if (auto started = demo_simulator.start(); !started) {
      spdlog::error("simulator: {}", started.error().detail);
    }
  }

  catalog.start();
  if (connector_runner) connector_runner->start();

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("signal {}: stopping", signal_number);
  if (mqtt_ingest) mqtt_ingest->stop();
  demo_simulator.stop();
  if (connector_runner) connector_runner->stop();
  catalog.stop();
  server.stop(kShutdownGrace);
  streams.stop();
  alarm_engine.stop();
  alarm_notifier.stop();
  (*governance)->stop();
  subscriptions.stop();  // writes the delivery status back while the store is open
  feed.stop();
  transports.stop(kNotificationGrace);
  (*store)->close();
  spdlog::info("stopped");
  return 0;
}

struct ImportOptions {
  std::vector<std::string> mappings;
  std::string source;  // only with one mapping; default: each mapping's source.file
  std::string data_dir = "./var";
  std::string url;  // import through a running server instead of opening data_dir
  std::string key;  // the API key for --url (--key, else CITYROOM_API_KEY); never logged
  std::string contexts_dir;
  bool dry_run = false;
  std::size_t errors_shown = 20;
  std::string city;  // import the city's mappings (only the changed ones) instead
};

int import_city_files(const ImportOptions& o, const char* argv0);

// `cityroom import`: see docs/IMPORT.md. Opening data_dir directly needs the server stopped
// (two processes must not write one store).
int import_files(const ImportOptions& o, const char* argv0) {
  if (o.mappings.empty() == o.city.empty()) {
    std::cerr << "cityroom import: give --mapping FILE (one or more) or --city FILE\n";
    return 2;
  }
  if (!o.city.empty()) return import_city_files(o, argv0);
  std::vector<ingest::ImportMapping> mappings;
  for (const auto& path : o.mappings) {
    auto m = ingest::load_import_mapping(path);
    if (!m) {
      std::cerr << "cityroom import: " << m.error().detail << "\n";
      return 2;
    }
    mappings.push_back(std::move(*m));
  }
  if (!o.source.empty() && mappings.size() != 1) {
    std::cerr << "cityroom import: a SOURCE goes with exactly one --mapping\n";
    return 2;
  }
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ldcontext::ContextStore> contexts;
  std::unique_ptr<hub::Hub> hub;
  std::unique_ptr<ingest::ImportSink> sink;
  if (!o.url.empty()) {
    std::string key = o.key;
    if (const char* env = std::getenv("CITYROOM_API_KEY"); key.empty() && env) key = env;
    auto http_sink = ingest::make_http_sink(o.url, std::move(key));
    if (!http_sink) {
      std::cerr << "cityroom import: " << http_sink.error().detail << "\n";
      return 2;
    }
    sink = std::move(*http_sink);
  } else if (!o.dry_run) {
    std::error_code ec;
    std::filesystem::create_directories(o.data_dir, ec);
    auto opened = store::open_sqlite({.data_dir = o.data_dir});
    ServeOptions serve_options;
    serve_options.contexts_dir = o.contexts_dir;
    auto ctx = opened ? ldcontext::ContextStore::open(find_contexts_dir(serve_options, argv0),
                                                      std::filesystem::path(o.data_dir) / "contexts")
                      : base::Result<std::unique_ptr<ldcontext::ContextStore>>();
    if (!opened || !ctx) {
      std::cerr << "cityroom import: cannot open " << o.data_dir << ": "
                << (!opened ? opened.error().detail : ctx.error().detail) << "\n";
      return 1;
    }
    store = std::move(*opened);
    contexts = std::move(*ctx);
    hub = std::make_unique<hub::Hub>(*store);
    sink = ingest::make_hub_sink(*hub, *contexts);
  }
  int rc = 0;
  for (const auto& m : mappings) {
    auto report = ingest::run_import(m, o.source, sink.get(), o.dry_run);
    if (!report) {
      std::cerr << "cityroom import: " << m.name << ": " << report.error().detail << "\n";
      rc = 1;
      continue;
    }
    for (std::size_t i = 0; i < report->errors.size() && i < o.errors_shown; ++i) {
      std::cerr << ingest::format_row_error(*report, report->errors[i]) << "\n";
    }
    if (report->bad > o.errors_shown) {
      std::cerr << "... and " << report->bad - o.errors_shown << " more bad rows\n";
    }
    std::cout << ingest::format_report(*report) << std::endl;
  }
  if (store) store->close();
  return rc;
}

// Opens the store of `data_dir` with the shipped contexts, for the offline subcommands.
struct OfflineStore {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ldcontext::ContextStore> contexts;
  std::unique_ptr<hub::Hub> hub;
  std::unique_ptr<catalog::Catalog> catalog;
  ~OfflineStore() {
    catalog.reset();
    if (store) store->close();
  }
};
base::Result<void> open_offline(const std::string& data_dir, const std::string& contexts_dir,
                                const char* argv0, OfflineStore& out) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  auto opened = store::open_sqlite({.data_dir = data_dir});
  if (!opened) return std::unexpected(opened.error());
  ServeOptions serve_options;
  serve_options.contexts_dir = contexts_dir;
  auto ctx = ldcontext::ContextStore::open(find_contexts_dir(serve_options, argv0),
                                           std::filesystem::path(data_dir) / "contexts");
  if (!ctx) {
    (*opened)->close();
    return std::unexpected(ctx.error());
  }
  out.store = std::move(*opened);
  out.contexts = std::move(*ctx);
  out.hub = std::make_unique<hub::Hub>(*out.store);
  out.catalog = std::make_unique<catalog::Catalog>(out.hub.get(), out.contexts->core());
  return out.catalog->load();
}

// `cityroom import --city FILE`: the city's mappings whose content changed (as serve --city).
int import_city_files(const ImportOptions& o, const char* argv0) {
  auto c = city::load_city(o.city);
  if (!c) {
    std::cerr << "cityroom import: " << c.error().detail << "\n";
    return 2;
  }
  OfflineStore s;
  if (auto ok = open_offline(o.data_dir, o.contexts_dir, argv0, s); !ok) {
    std::cerr << "cityroom import: cannot open " << o.data_dir << ": " << ok.error().detail << "\n";
    return 1;
  }
  auto outcomes = city::import_city(*c, *s.hub, *s.contexts, s.catalog.get(),
                                    {.log = [](const std::string& line) { std::cout << line << std::endl; }});
  if (!outcomes) {
    std::cerr << "cityroom import: " << outcomes.error().detail << "\n";
    return 2;
  }
  for (const auto& m : *outcomes) {
    if (m.failed) return 1;
  }
  return 0;
}

struct ReplayOptions {
  std::string name;  // a connector of --city, or a connector type
  std::string file;
  std::string data_dir = "./var";
  std::string city;
  std::string contexts_dir;
};

// `cityroom connector replay NAME FILE`: one recorded answer through a connector, once.
int replay_connector(const ReplayOptions& o, const char* argv0) {
  std::optional<connectors::ConnectorConfig> config;
  if (!o.city.empty()) {
    auto c = city::load_city(o.city);
    if (!c) {
      std::cerr << "cityroom connector: " << c.error().detail << "\n";
      return 2;
    }
    for (const auto& entry : c->connectors) {
      auto cc = connectors::parse_connector_config(entry);
      if (cc && cc->name == o.name) config = std::move(*cc);
    }
  }
  if (!config) {
    const auto type = connectors::parse_type(o.name);
    if (!type) {
      std::cerr << "cityroom connector: '" << o.name << "' is neither a connector of the city nor "
                << "a type (kma-ncst, kma-fcst, airkorea-province, airkorea-station, "
                   "seoul-citydata)\n";
      return 2;
    }
    config = connectors::default_config(*type, o.name);
  }
  std::ifstream in(o.file, std::ios::binary);
  if (!in) {
    std::cerr << "cityroom connector: cannot read " << o.file << "\n";
    return 2;
  }
  const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  OfflineStore s;
  if (auto ok = open_offline(o.data_dir, o.contexts_dir, argv0, s); !ok) {
    std::cerr << "cityroom connector: cannot open " << o.data_dir << ": " << ok.error().detail << "\n";
    return 1;
  }
  const auto started = std::chrono::steady_clock::now();
  const auto r = connectors::replay(*config, body, *s.hub, *s.contexts, s.catalog.get());
  const auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!r.error.empty()) {
    std::cout << config->name << ": failed: " << r.error << std::endl;
    return 1;
  }
  std::cout << fmt::format("{}: {} entities, {} upserted, {} refused, {} records skipped, {:.3f} s",
                           config->name, r.entities, r.upserted, r.failed, r.skipped, seconds)
            << std::endl;
  return 0;
}

}  // namespace
}  // namespace cityroom::app

int main(int argc, char** argv) {
  using cityroom::app::ServeOptions;
  CLI::App cli{"cityroom: a city's real-time data hub (NGSI-LD) and wall-screen dashboard"};
  cli.set_version_flag("--version", std::string("cityroom ") + CITYROOM_VERSION);
  cli.require_subcommand(1);
  ServeOptions o;
  auto* serve = cli.add_subcommand("serve", "Run the NGSI-LD broker and the screens");
  serve->add_option("--data-dir", o.data_dir, "Where the store keeps its files")->capture_default_str();
  serve->add_option("--listen", o.listen, "HOST:PORT to listen on; port 0 picks a free port")
      ->capture_default_str();
  serve->add_option("--contexts-dir", o.contexts_dir,
                    "Folder of shipped JSON-LD contexts with index.json (default: found next to "
                    "the binary or in the source tree)");
  serve->add_option("--threads", o.threads, "HTTP threads (0 = one per core)")->capture_default_str();
  serve->add_option("--body-bytes-max", o.body_bytes_max, "Largest request body accepted")
      ->capture_default_str();
  serve->add_option("--connections-max", o.connections_max, "Concurrent connections accepted")
      ->capture_default_str();
  serve->add_flag("--sync-full", o.synchronous_full,
                  "fsync every commit (survives power loss; NORMAL survives process crashes)");
  serve->add_option("--history-policy", o.history_policy,
                    "History retention and rollups per entity type (JSON; see "
                    "data/history/policy.example.json); default data/history/policy.json if any");
  serve->add_option("--mqtt-config", o.mqtt_config,
                    "JSON file of MQTT broker and topic mappings to ingest (see docs/MQTT.md)");
  serve->add_option("--city", o.city,
                    "City file (data/cities/*.json): imports its data, runs its connectors, "
                    "serves /cityroom/v1/city");
  serve->add_option("--notify-ca-file", o.notify_ca_file,
                    "PEM CA bundle trusted for https:// notification endpoints (default: the "
                    "system store)");
  serve->add_flag("--demo", o.demo,
                  "Run the demo simulator (and, without --city, the Gangnam-gu demo city): live "
                  "traffic, weather, ambulances, sensors (see docs/SIMULATOR.md)");
  serve->add_option("--scenario", o.scenario, "Simulator scenario: normal, heavy-snow, typhoon, "
                                              "market-fire")->capture_default_str();
  serve->add_option("--seed", o.seed, "Simulator random seed (same seed and clock, same writes)")
      ->capture_default_str();
  serve->add_option("--sim-rate", o.sim_rate, "Simulator entity updates per second")
      ->capture_default_str();
  cityroom::access::add_serve_options(*serve, o.access);
  cityroom::access::Commands access_commands(cli);
  serve->add_option("--rules-dir", o.rules_dir,
                    "Folder of alarm rule and policy files (default: the city's "
                    "data/rules/<city id> when present; \"\" for none; see docs/ALARMS.md)");
  serve->add_option("--web-dir", o.web_dir,
                    "Folder of the built screens served at / (default: web/dist, found next to "
                    "the binary or in the source tree)");
  cityroom::app::ImportOptions io;
  auto* import = cli.add_subcommand("import", "Load CSV/GeoJSON files into entities through a "
                                              "declarative mapping (see docs/IMPORT.md)");
  // One file per --mapping, so a SOURCE after it is not taken as a second mapping.
  import->add_option("--mapping", io.mappings, "Mapping file (JSON); repeat for several")
      ->allow_extra_args(false);
  import->add_option("--city", io.city, "Import the city file's mappings that changed since "
                                        "their last import instead");
  import->add_option("SOURCE", io.source, "Source file (default: the mapping's source.file)");
  import->add_option("--data-dir", io.data_dir, "Store to write (the server must not be running "
                                                "on it)")->capture_default_str();
  import->add_option("--url", io.url, "Import through a running server instead, e.g. "
                                      "http://127.0.0.1:8080");
  import->add_option("--key", io.key, "API key for --url (prefer the environment variable "
                                      "CITYROOM_API_KEY: arguments show in the process list)");
  import->add_option("--contexts-dir", io.contexts_dir, "Folder of shipped JSON-LD contexts");
  import->add_flag("--dry-run", io.dry_run, "Read and map only; write nothing");
  import->add_option("--errors-shown", io.errors_shown, "Bad rows listed per mapping")
      ->capture_default_str();
  cityroom::app::ReplayOptions ro;
  auto* connector = cli.add_subcommand("connector", "Data connectors (see docs/CONNECTORS.md)");
  connector->require_subcommand(1);
  auto* replay = connector->add_subcommand("replay", "Feed a recorded API answer through a "
                                                     "connector once");
  replay->add_option("NAME", ro.name, "Connector name (with --city) or type")->required();
  replay->add_option("FILE", ro.file, "Recorded response body")->required();
  replay->add_option("--data-dir", ro.data_dir, "Store to write (the server must not be "
                                                "running on it)")->capture_default_str();
  replay->add_option("--city", ro.city, "City file whose connector NAME is");
  replay->add_option("--contexts-dir", ro.contexts_dir, "Folder of shipped JSON-LD contexts");
  serve->add_option("--open311-config", o.open311_config,
                    "Open311 service catalogue (default: data/governance/open311.json)");
  std::string pledge_file, pledge_data_dir = "./var", pledge_city;
  auto* gov = cli.add_subcommand("governance", "Governance data (see docs/GOVERNANCE.md)");
  gov->require_subcommand(1);
  auto* import_pledges = gov->add_subcommand("import-pledges", "Load a pledge table (CSV)");
  import_pledges->add_option("FILE", pledge_file, "The pledge CSV")->required();
  import_pledges->add_option("--data-dir", pledge_data_dir, "Store to write (server stopped)")
      ->capture_default_str();
  import_pledges->add_option("--city", pledge_city, "Id part (default: from pledges_<city>_*.csv)");
  cityroom::api::HistoryCliOptions ho;
  std::string history_file, history_out, history_type, history_ids, history_attrs, history_from,
      history_to;
  auto* history = cli.add_subcommand("history", "Attribute history as CSV through a running "
                                                "server (see docs/HISTORY.md)");
  history->require_subcommand(1);
  history->add_option("--url", ho.url, "Server base URL")->capture_default_str();
  history->add_option("--key", ho.key, "API key (prefer the environment variable "
                                       "CITYROOM_API_KEY: arguments show in the process list)");
  history->add_option("--tenant", ho.tenant, "NGSILD-Tenant");
  history->add_option("--context", ho.context, "@context URL for short attribute names");
  auto* history_import = history->add_subcommand("import", "Load entityId,attribute,time,value "
                                                           "rows (nothing stored if a row is bad)");
  history_import->add_option("FILE", history_file, "The CSV file")->required();
  auto* history_export = history->add_subcommand("export", "Write a time range as CSV");
  history_export->add_option("--type", history_type, "Entity type");
  history_export->add_option("--id", history_ids, "Entity ids (comma-separated)");
  history_export->add_option("--attrs", history_attrs, "Attributes (comma-separated)");
  history_export->add_option("--from", history_from, "timeAt (inclusive, ISO 8601)");
  history_export->add_option("--to", history_to, "endTimeAt (exclusive, ISO 8601)");
  history_export->add_option("-o,--output", history_out, "Output file (default: stdout)");
  CLI11_PARSE(cli, argc, argv);
  if (const char* env = std::getenv("CITYROOM_API_KEY"); ho.key.empty() && env) ho.key = env;
  if (history_import->parsed()) return cityroom::api::history_import_command(history_file, ho);
  if (history_export->parsed()) {
    std::string query;
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string&>{"type", history_type}, {"id", history_ids},
          {"attrs", history_attrs}, {"timeAt", history_from}, {"endTimeAt", history_to}}) {
      if (value.empty()) continue;
      if (!query.empty()) query += '&';
      query += std::string(name) + '=' + value;  // URIs, names and ISO times need no escaping
    }
    return cityroom::api::history_export_command(query, history_out, ho);
  }
  if (import_pledges->parsed()) {
    return cityroom::governance::import_pledges_command(pledge_file, pledge_data_dir, pledge_city);
  }
  if (serve->parsed()) return cityroom::app::serve(o, argv[0]);
  if (import->parsed()) return cityroom::app::import_files(io, argv[0]);
  if (replay->parsed()) return cityroom::app::replay_connector(ro, argv[0]);
  if (auto rc = access_commands.run()) return *rc;
  return 0;
}
