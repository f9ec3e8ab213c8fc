// notify_sink_bench: how many notifications per second delivery::Deliverer gets to a healthy
// notify_sink over loopback, and whether a blackholed endpoint receiving posts at the same time
// changes that. Every healthy message must end delivered: "lost" (accepted, no done) and
// "failed" are printed and make the exit status 1.
//
//   notify_sink --port 9090 &  notify_sink --port 9091 --blackhole &
//   notify_sink_bench --port 9090 --count 200000 [--blackhole-port 9091] [--connections 2]
//
// The producer posts as fast as post() accepts; when the healthy endpoint's queue is full it
// waits 50 µs and tries again (a real producer would drop and count). Posts to the blackhole
// (one per --blackhole-every healthy posts) are fire-and-forget: refusals there are expected.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "delivery/delivery.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace delivery = cityroom::delivery;

struct Args {
  std::uint16_t port = 9090;
  std::uint16_t blackhole_port = 0;
  std::size_t blackhole_every = 10;
  std::size_t count = 200'000;
  std::size_t connections = 2;
  std::size_t threads = 1;
  std::size_t body_bytes = 600;
};

std::string notification_body(std::size_t bytes) {
  std::string body =
      R"({"id":"urn:ngsi-ld:Notification:1","type":"Notification","subscriptionId":"urn:s:1",)"
      R"("notifiedAt":"2026-11-22T00:00:00.000Z","data":[{"id":"urn:ngsi-ld:Sensor:1","pad":")";
  const std::string tail = R"("}]})";
  if (bytes > body.size() + tail.size()) body.append(bytes - body.size() - tail.size(), 'x');
  return body + tail;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"notify_sink_bench: Deliverer throughput to notify_sink"};
  app.add_option("--port", a.port, "healthy notify_sink port on 127.0.0.1");
  app.add_option("--blackhole-port", a.blackhole_port, "notify_sink --blackhole port (0 = none)");
  app.add_option("--blackhole-every", a.blackhole_every, "one blackhole post per N healthy ones")
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--count", a.count, "healthy notifications")->check(CLI::Range(1, 100'000'000));
  app.add_option("--connections", a.connections, "connections per endpoint")
      ->check(CLI::Range(1, 64));
  app.add_option("--threads", a.threads, "delivery threads")->check(CLI::Range(1, 16));
  app.add_option("--body-bytes", a.body_bytes, "notification body size");
  CLI11_PARSE(app, argc, argv);

  delivery::Options o;
  o.connections_per_endpoint = a.connections;
  o.threads = a.threads;
  o.request_timeout = std::chrono::milliseconds{2'000};
  delivery::Deliverer d(o);

  const std::string body = notification_body(a.body_bytes);
  const std::string healthy = "http://127.0.0.1:" + std::to_string(a.port) + "/notify";
  const std::string hole = "http://127.0.0.1:" + std::to_string(a.blackhole_port) + "/notify";
  std::atomic<std::uint64_t> delivered{0}, failed{0}, hole_done{0};
  std::uint64_t waits = 0, hole_posted = 0, hole_refused = 0;

  const auto start = Clock::now();
  for (std::size_t i = 0; i < a.count; ++i) {
    delivery::Message m{healthy, {{"Content-Type", "application/json"}}, body};
    auto done = [&](const delivery::Outcome& out) {
      (out.delivered ? delivered : failed).fetch_add(1, std::memory_order_relaxed);
    };
    while (!d.post(m, done)) {
      ++waits;
      std::this_thread::sleep_for(std::chrono::microseconds{50});
    }
    if (a.blackhole_port != 0 && i % a.blackhole_every == 0) {
      ++hole_posted;
      if (!d.post(delivery::Message{hole, {}, body},
                  [&](const delivery::Outcome&) { hole_done.fetch_add(1); })) {
        ++hole_refused;
      }
    }
  }
  const auto posted = Clock::now();
  const auto deadline = posted + std::chrono::seconds{120};
  while (delivered.load() + failed.load() < a.count && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds{200});
  }
  const auto end = Clock::now();
  const auto stats = d.stats();
  const std::uint64_t hole_finished = hole_done.load();  // before stop() ends the rest
  d.stop(std::chrono::milliseconds{0});

  const double secs = std::chrono::duration<double>(end - start).count();
  const std::uint64_t lost = a.count - delivered.load() - failed.load();
  std::printf(
      "healthy: %zu notifications of %zu bytes in %.3f s = %.0f/s (posting took %.3f s, %llu "
      "waits on a full queue); delivered=%llu failed=%llu lost=%llu; connections=%zu threads=%zu\n",
      a.count, body.size(), secs, a.count / secs,
      std::chrono::duration<double>(posted - start).count(), static_cast<unsigned long long>(waits),
      static_cast<unsigned long long>(delivered.load()),
      static_cast<unsigned long long>(failed.load()), static_cast<unsigned long long>(lost),
      a.connections, a.threads);
  if (a.blackhole_port != 0) {
    std::printf(
        "blackhole: posted=%llu refused=%llu (queue full) finished before stop=%llu, "
        "queued at end=%zu (all endpoints), retried=%llu, dropped=%llu\n",
        static_cast<unsigned long long>(hole_posted), static_cast<unsigned long long>(hole_refused),
        static_cast<unsigned long long>(hole_finished), stats.queued,
        static_cast<unsigned long long>(stats.retried),
        static_cast<unsigned long long>(stats.dropped));
  }
  return lost == 0 && failed.load() == 0 ? 0 : 1;
}
