// cityroom's composition root: parses the command line, builds the store, the hub, the context
// store and the HTTP server, wires them, and waits for SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "api/api.h"
#include "app/listen_address.h"
#include "governance/governance.h"
#include "http/http.h"
#include "hub/hub.h"
#include "ingest/import.h"
#include "ingest/ingest.h"
#include "ldcontext/ldcontext.h"
#include "live/feed.h"
#include "live/streams.h"
#include "live/subscriptions.h"
#include "live/transports.h"
#include "store/store.h"

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
  std::string open311_config;  // Open311 service catalogue; empty: the shipped one if found
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

  auto store = store::open_sqlite({.data_dir = o.data_dir, .synchronous_full = o.synchronous_full});
  if (!store) {
    std::cerr << "cityroom: cannot open the store: " << store.error().detail << "\n";
    return 1;
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
  if (auto loaded = subscriptions.load(); !loaded) {
    std::cerr << "cityroom: cannot load subscriptions: " << loaded.error().detail << "\n";
    return 1;
  }
  subscriptions.start();
  live::Streams streams(feed, hub, **contexts);
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
  http::Metrics metrics;
  api::AllowAll access;
  api::Deps deps{hub, **contexts, access, metrics, CITYROOM_VERSION};
  deps.subscriptions = &subscriptions;
  deps.streams = &streams;
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

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("signal {}: stopping", signal_number);
  if (mqtt_ingest) mqtt_ingest->stop();
  server.stop(kShutdownGrace);
  streams.stop();
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
  std::string contexts_dir;
  bool dry_run = false;
  std::size_t errors_shown = 20;
};

// `cityroom import`: see docs/IMPORT.md. Opening data_dir directly needs the server stopped
// (two processes must not write one store).
int import_files(const ImportOptions& o, const char* argv0) {
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
    auto http_sink = ingest::make_http_sink(o.url);
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
  serve->add_option("--mqtt-config", o.mqtt_config,
                    "JSON file of MQTT broker and topic mappings to ingest (see docs/MQTT.md)");
  serve->add_option("--notify-ca-file", o.notify_ca_file,
                    "PEM CA bundle trusted for https:// notification endpoints (default: the "
                    "system store)");
  cityroom::app::ImportOptions io;
  auto* import = cli.add_subcommand("import", "Load CSV/GeoJSON files into entities through a "
                                              "declarative mapping (see docs/IMPORT.md)");
  // One file per --mapping, so a SOURCE after it is not taken as a second mapping.
  import->add_option("--mapping", io.mappings, "Mapping file (JSON); repeat for several")
      ->required()
      ->allow_extra_args(false);
  import->add_option("SOURCE", io.source, "Source file (default: the mapping's source.file)");
  import->add_option("--data-dir", io.data_dir, "Store to write (the server must not be running "
                                                "on it)")->capture_default_str();
  import->add_option("--url", io.url, "Import through a running server instead, e.g. "
                                      "http://127.0.0.1:8080");
  import->add_option("--contexts-dir", io.contexts_dir, "Folder of shipped JSON-LD contexts");
  import->add_flag("--dry-run", io.dry_run, "Read and map only; write nothing");
  import->add_option("--errors-shown", io.errors_shown, "Bad rows listed per mapping")
      ->capture_default_str();
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
  CLI11_PARSE(cli, argc, argv);
  if (import_pledges->parsed()) {
    return cityroom::governance::import_pledges_command(pledge_file, pledge_data_dir, pledge_city);
  }
  if (serve->parsed()) return cityroom::app::serve(o, argv[0]);
  if (import->parsed()) return cityroom::app::import_files(io, argv[0]);
  return 0;
}
