// mqtt_ingest_bench: messages/s from Mosquitto through cityroom's MQTT ingestion into the
// SQLite store (fields mode, QoS 1), and where the time goes.
//
// The same modules `cityroom serve --mqtt-config` runs (store, hub, ingest, mqtt), in one
// process without the HTTP server, against a Mosquitto the caller started. Three phases on the
// same data, each with N messages round-robin over S sensors:
//   broker  — publisher → Mosquitto → a plain QoS 1 subscriber that only counts (the peer: what
//             the broker and libmosquitto alone can carry);
//   hub     — payload → fields_to_entity → hub.batch(upsert-update), no MQTT (what the
//             mapping + store path alone can carry; the first pass creates the S entities);
//   ingest  — publisher → Mosquitto → MqttIngest → hub → store: the figure.
// For the ingest phase it also prints the CPU seconds of each busy thread (ingest network
// thread, store writer, publisher) and of the broker process (--broker-pid), and the ingest
// timing counters (parse+map per message, hub submit → commit latency).
//
//   mqtt_ingest_bench --port P [--messages 100000] [--sensors 10000] [--data-dir DIR]
//                     [--broker-pid PID] [--phases broker,hub,ingest]
// Prints one JSON line per phase.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "hub/hub.h"
#include "ingest/ingest.h"
#include "ldcontext/ldcontext.h"
#include "mqtt/mqtt.h"
#include "store/store.h"

#ifndef CITYROOM_SOURCE_DIR
#define CITYROOM_SOURCE_DIR "."
#endif

namespace {

using namespace cityroom;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr auto kPhaseTimeout = std::chrono::seconds(120);
constexpr std::size_t kHubInFlightMax = 10'000;

struct Args {
  int port = 1883;
  std::size_t messages = 100'000;
  std::size_t sensors = 10'000;
  std::string data_dir;
  int broker_pid = 0;
  std::string phases = "broker,hub,ingest";
  std::size_t hub_batch = 1;  // entities per hub.batch call in the hub phase
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "mqtt_ingest_bench: %s\nusage: mqtt_ingest_bench --port P [--messages N] "
               "[--sensors S] [--data-dir DIR] [--broker-pid PID] [--phases broker,hub,ingest]\n",
               why.c_str());
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) usage("missing value for " + k);
    const char* v = argv[++i];
    if (k == "--port")
      a.port = std::atoi(v);
    else if (k == "--messages")
      a.messages = static_cast<std::size_t>(std::atol(v));
    else if (k == "--sensors")
      a.sensors = static_cast<std::size_t>(std::atol(v));
    else if (k == "--data-dir")
      a.data_dir = v;
    else if (k == "--broker-pid")
      a.broker_pid = std::atoi(v);
    else if (k == "--phases")
      a.phases = v;
    else if (k == "--hub-batch")
      a.hub_batch = std::max<std::size_t>(1, static_cast<std::size_t>(std::atol(v)));
    else
      usage("unknown option " + k);
  }
  if (a.messages < 1 || a.messages > 10'000'000 || a.sensors < 1) usage("bad --messages/--sensors");
  return a;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string payload_for(std::size_t i) {
  return fmt::format(
      R"({{"tilt_deg": {:.3f}, "temp_c": {:.2f}, "ts": "2026-11-22T01:{:02}:{:02}Z"}})",
      0.001 * static_cast<double>(i % 1000), 10.0 + static_cast<double>(i % 7), (i / 60) % 60,
      i % 60);
}

// CPU seconds (user + system) of /proc/<pid>/task/<tid>/stat or /proc/<pid>/stat.
double cpu_seconds(const fs::path& stat) {
  std::ifstream in(stat);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; rest >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::atof(field.c_str());
    if (i == 15) {
      stime = std::atof(field.c_str());
      break;
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string thread_comm(const fs::path& task) {
  std::ifstream in(task / "comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// CPU seconds per thread of this process, keyed by "name/tid".
std::map<std::string, double> thread_cpu() {
  std::map<std::string, double> out;
  const auto main_tid = std::to_string(getpid());
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    const auto tid = task.path().filename().string();
    const auto name = tid == main_tid ? std::string("main") : thread_comm(task.path());
    out[name + "/" + tid] = cpu_seconds(task.path() / "stat");
  }
  return out;
}

// {"name/tid": seconds, ...} of the threads that used at least 10 ms between the snapshots.
std::string cpu_delta(const std::map<std::string, double>& before,
                      const std::map<std::string, double>& after) {
  std::string out;
  for (const auto& [name, seconds] : after) {
    const auto was = before.count(name) ? before.at(name) : 0.0;
    if (seconds - was < 0.01) continue;
    out += fmt::format("{}\"{}\":{:.2f}", out.empty() ? "" : ",", name, seconds - was);
  }
  return "{" + out + "}";
}

std::unique_ptr<mqtt::Client> publisher(int port) {
  mqtt::Options o;
  o.port = port;
  o.clean_session = true;
  o.thread_name = "bench-pub";
  auto c = mqtt::Client::create(o);
  if (!c || !(*c)->start() || !(*c)->wait_connected(std::chrono::seconds(10))) {
    std::fprintf(stderr, "publisher cannot connect to 127.0.0.1:%d\n", port);
    std::exit(1);
  }
  return std::move(*c);
}

// Publishes N messages with QoS 1; waits while the client's outgoing queue is full.
void publish_all(mqtt::Client& pub, const Args& a, const std::string& prefix) {
  for (std::size_t i = 0; i < a.messages; ++i) {
    const auto topic = fmt::format("{}/s{}/telemetry", prefix, i % a.sensors);
    const auto payload = payload_for(i);
    while (!pub.publish(topic, payload, 1)) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
}

template <class Done>
bool wait_until(Done done) {
  const auto deadline = Clock::now() + kPhaseTimeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

void phase_broker(const Args& a) {
  std::atomic<std::size_t> received{0};
  mqtt::Options o;
  o.port = a.port;
  o.client_id = "bench-raw-sub";
  o.thread_name = "bench-sub";
  auto sub = mqtt::Client::create(o, [&](const mqtt::Message&) { received.fetch_add(1); });
  if (!sub || !(*sub)->subscribe("bench/raw/+/telemetry", 1) || !(*sub)->start() ||
      !(*sub)->wait_connected(std::chrono::seconds(10))) {
    std::fprintf(stderr, "raw subscriber cannot connect\n");
    std::exit(1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // SUBACK
  auto pub = publisher(a.port);
  const auto t0 = Clock::now();
  publish_all(*pub, a, "bench/raw");
  const double publish_s = seconds_since(t0);
  const bool ok = wait_until([&] { return received.load() >= a.messages; });
  const double s = seconds_since(t0);
  std::printf(
      "{\"phase\":\"broker\",\"messages\":%zu,\"received\":%zu,\"complete\":%s,"
      "\"seconds\":%.3f,\"publish_seconds\":%.3f,\"msgs_per_s\":%.0f}\n",
      a.messages, received.load(), ok ? "true" : "false", s, publish_s,
      static_cast<double>(received.load()) / s);
  std::fflush(stdout);
}

ingest::Mapping bridge_mapping() {
  ingest::Mapping m;
  m.name = "bench";
  m.topic = "city/bridge/+/telemetry";
  m.mode = ingest::PayloadMode::kFields;
  m.id_template = "urn:ngsi-ld:BridgeSensor:{1}";
  m.entity_type = "BridgeSensor";
  m.observed_at_field = "ts";
  m.fields = {{"tilt_deg", "tilt", "DD", std::nullopt, false},
              {"temp_c", "temperature", "CEL", std::nullopt, false}};
  return m;
}

void phase_hub(const Args& a, hub::Hub& hub, ldcontext::ContextStore& contexts) {
  const auto m = bridge_mapping();
  std::mutex mutex;
  std::condition_variable cv;
  std::size_t in_flight = 0, done = 0, failed = 0;
  std::string sensor;
  const auto cpu_before = thread_cpu();
  const auto t0 = Clock::now();
  double map_s = 0;
  std::size_t calls = 0;
  for (std::size_t i = 0; i < a.messages;) {
    std::vector<hub::BatchItem> items;
    for (std::size_t k = 0; k < a.hub_batch && i < a.messages; ++k, ++i) {
      const auto tm = Clock::now();
      sensor = fmt::format("s{}", i % a.sensors);
      auto payload = json::parse(payload_for(i));
      auto e =
          ingest::fields_to_entity(m, {sensor}, *payload, *contexts.core(), base::now_micros());
      map_s += seconds_since(tm);
      std::string id(e->at("id").get_string());
      items.push_back({std::move(id), std::move(*e)});
    }
    ++calls;
    {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return in_flight * a.hub_batch < kHubInFlightMax; });
      ++in_flight;
    }
    hub.batch("hubonly", hub::BatchKind::kUpsertUpdate, std::move(items),
              [&](base::Result<hub::BatchOutcome> r) {
                std::lock_guard lock(mutex);
                --in_flight;
                ++done;
                if (!r)
                  ++failed;
                else
                  failed += r->errors.size();
                cv.notify_all();
              });
  }
  {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return done == calls; });
  }
  const double s = seconds_since(t0);
  std::printf(
      "{\"phase\":\"hub\",\"messages\":%zu,\"entities_per_call\":%zu,\"failed\":%zu,"
      "\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"map_us_per_msg\":%.2f,"
      "\"cpu_s\":%s}\n",
      a.messages, a.hub_batch, failed, s, static_cast<double>(a.messages) / s,
      map_s * 1e6 / static_cast<double>(a.messages), cpu_delta(cpu_before, thread_cpu()).c_str());
  std::fflush(stdout);
}

void phase_ingest(const Args& a, hub::Hub& hub, store::Store& store,
                  ldcontext::ContextStore& contexts) {
  ingest::Config config;
  config.broker.port = a.port;
  config.broker.client_id = "bench-ingest";
  config.broker.thread_name = "mqtt-ingest";
  config.mappings.push_back(bridge_mapping());
  ingest::MqttIngest ingest(hub, contexts, config);
  if (auto ok = ingest.start(); !ok) {
    std::fprintf(stderr, "ingest: %s\n", ok.error().detail.c_str());
    std::exit(1);
  }
  if (!wait_until([&] { return ingest.stats().connected; })) std::exit(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // SUBACK
  auto pub = publisher(a.port);
  const auto store_before = store.stats();
  const auto cpu_before = thread_cpu();
  const double broker_before =
      a.broker_pid ? cpu_seconds(fs::path("/proc") / std::to_string(a.broker_pid) / "stat") : 0;
  const auto t0 = Clock::now();
  publish_all(*pub, a, "city/bridge");
  const double publish_s = seconds_since(t0);
  auto finished = [&] {
    const auto s = ingest.stats();
    return s.mappings[0].ingested + s.mappings[0].rejected >= a.messages;
  };
  const bool ok = wait_until(finished);
  const double s = seconds_since(t0);
  const auto stats = ingest.stats();
  const auto store_after = store.stats();
  const auto cpu_after = thread_cpu();
  const double broker_cpu =
      a.broker_pid
          ? cpu_seconds(fs::path("/proc") / std::to_string(a.broker_pid) / "stat") - broker_before
          : 0;
  const auto threads = cpu_delta(cpu_before, cpu_after);
  const auto& m = stats.mappings[0];
  const double n = static_cast<double>(m.ingested + m.rejected);
  const double commits = static_cast<double>(store_after.commits - store_before.commits);
  std::printf(
      "{\"phase\":\"ingest\",\"messages\":%zu,\"ingested\":%llu,\"rejected\":%llu,"
      "\"complete\":%s,\"seconds\":%.3f,\"publish_seconds\":%.3f,\"msgs_per_s\":%.0f,"
      "\"map_us_per_msg\":%.2f,\"hub_latency_ms_mean\":%.2f,\"backpressure_waits\":%llu,"
      "\"commits\":%.0f,\"works_per_commit\":%.1f,\"cpu_s\":%s,\"broker_cpu_s\":%.2f}\n",
      a.messages, static_cast<unsigned long long>(m.ingested),
      static_cast<unsigned long long>(m.rejected), ok ? "true" : "false", s, publish_s, n / s,
      static_cast<double>(stats.map_ns_total) / 1e3 / std::max(n, 1.0),
      static_cast<double>(stats.hub_ns_total) / 1e6 / std::max(n, 1.0),
      static_cast<unsigned long long>(stats.backpressure_waits), commits,
      static_cast<double>(store_after.work_items - store_before.work_items) /
          std::max(commits, 1.0),
      threads.c_str(), broker_cpu);
  std::fflush(stdout);
  ingest.stop();
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  spdlog::set_level(spdlog::level::warn);
  const fs::path dir = a.data_dir.empty() ? fs::temp_directory_path() /
                                                fmt::format("cityroom-mqtt-bench-{}", getpid())
                                          : fs::path(a.data_dir);
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto store = store::open_sqlite({.data_dir = dir});
  if (!store) {
    std::fprintf(stderr, "store: %s\n", store.error().detail.c_str());
    return 1;
  }
  auto contexts = ldcontext::ContextStore::open(fs::path(CITYROOM_SOURCE_DIR) / "data" / "contexts",
                                                dir / "contexts");
  if (!contexts) {
    std::fprintf(stderr, "contexts: %s\n", contexts.error().detail.c_str());
    return 1;
  }
  hub::Hub hub(**store);
  if (a.phases.find("broker") != std::string::npos) phase_broker(a);
  if (a.phases.find("hub") != std::string::npos) phase_hub(a, hub, **contexts);
  if (a.phases.find("ingest") != std::string::npos) phase_ingest(a, hub, **store, **contexts);
  (*store)->close();
  if (a.data_dir.empty()) fs::remove_all(dir);
  return 0;
}
