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
#include "http/http.h"
#include "hub/hub.h"
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
  deps.metric_sources.push_back([&streams] { return live::prometheus_text(streams.stats()); });
  deps.metric_sources.push_back([&subscriptions] { return subscriptions.prometheus_text(); });
  deps.metric_sources.push_back([&mqtt_ingest] {
    return mqtt_ingest ? ingest::prometheus_text(mqtt_ingest->stats()) : std::string();
  });
  http::Router router;
  api::register_ngsi_ld(router, deps);
  api::register_system(router, deps);
  api::register_streams(router, deps);

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
  subscriptions.stop();  // writes the delivery status back while the store is open
  feed.stop();
  transports.stop(kNotificationGrace);
  (*store)->close();
  spdlog::info("stopped");
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
  serve->add_option("--mqtt-config", o.mqtt_config,
                    "JSON file of MQTT broker and topic mappings to ingest (see docs/MQTT.md)");
  serve->add_option("--notify-ca-file", o.notify_ca_file,
                    "PEM CA bundle trusted for https:// notification endpoints (default: the "
                    "system store)");
  CLI11_PARSE(cli, argc, argv);
  if (serve->parsed()) return cityroom::app::serve(o, argv[0]);
  return 0;
}
