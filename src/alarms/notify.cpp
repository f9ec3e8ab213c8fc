// Who is told: routing an alarm event through the policies, and sending it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "alarms/alarms.h"

extern char** environ;

namespace cityroom::alarms {
namespace {

template <class T>
bool allows(const std::vector<T>& wanted, const T& v) {
  return wanted.empty() || std::find(wanted.begin(), wanted.end(), v) != wanted.end();
}

bool in_quiet_hours(const Policy::QuietHours& q, base::Micros now) {
  constexpr base::Micros kMinute = 60'000'000;
  const std::int64_t minutes = now / kMinute + q.utc_offset_min;
  const int local = static_cast<int>(((minutes % 1440) + 1440) % 1440);
  if (q.from_min == q.to_min) return false;
  if (q.from_min < q.to_min) return local >= q.from_min && local < q.to_min;
  return local >= q.from_min || local < q.to_min;  // across midnight
}

// Runs argv with `input` on its stdin; kills it after `timeout`. True on exit status 0.
bool run_command(const std::vector<std::string>& argv, const std::string& input,
                 std::chrono::milliseconds timeout) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[0]);
  if (rc != 0) {
    close(fds[1]);
    spdlog::warn("alarms: gateway command {} failed to start: {}", argv[0], std::strerror(rc));
    return false;
  }
  // The alarm is small (well under the pipe buffer), so this write does not block for long;
  // a command that does not read its stdin gets EPIPE (SIGPIPE is ignored by the server).
  std::size_t off = 0;
  while (off < input.size()) {
    const ssize_t n = write(fds[1], input.data() + off, input.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      spdlog::warn("alarms: gateway command {} killed after {} ms", argv[0], timeout.count());
      return false;
    }
    poll(nullptr, 0, 10);
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

std::vector<Delivery> route(const std::vector<Policy>& policies, const AlarmEvent& event,
                            base::Micros now) {
  std::vector<Delivery> out;
  for (const auto& p : policies) {
    if (p.tenant != event.tenant) continue;
    if (!allows(p.events, event.kind)) continue;
    if (!allows(p.severities, event.severity)) continue;
    if (!allows(p.departments, event.department)) continue;
    if (p.area && (!event.location || !geo::matches(*p.area, *event.location))) continue;
    if (p.quiet_hours && in_quiet_hours(*p.quiet_hours, now) &&
        std::find(p.quiet_hours->allow.begin(), p.quiet_hours->allow.end(), event.severity) ==
            p.quiet_hours->allow.end()) {
      continue;
    }
    std::vector<std::string> recipients;
    for (const auto& u : p.users) {
      if (allows(u.severities, event.severity) && allows(u.departments, event.department)) {
        recipients.push_back(u.id);
      }
    }
    // A policy that names users but none of them wants this alarm tells no one.
    if (!p.users.empty() && recipients.empty()) continue;
    for (const auto& t : p.targets) out.push_back({t, p.id, recipients});
  }
  return out;
}

std::string notification_body(const Delivery& d, const AlarmEvent& event) {
  json::array recipients;
  for (const auto& r : d.recipients) recipients.emplace_back(r);
  return json::serialize(json::object{{"event", event.kind},
                                      {"policy", d.policy_id},
                                      {"recipients", std::move(recipients)},
                                      {"alarm", event.alarm}});
}

Notifier::Notifier(live::Transport* transport, Options options)
    : transport_(transport), options_(options) {
  worker_ = std::thread([this] { run_commands(); });
}

Notifier::~Notifier() {
  stop();
}

void Notifier::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !worker_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Notifier::send(const Delivery& d, const AlarmEvent& event) {
  if (d.target.kind == Target::Kind::kScreen) return;  // screens watch the Alert entities
  std::string body = notification_body(d, event);
  ++sent_;
  if (d.target.kind == Target::Kind::kCommand) {
    std::lock_guard lock(mutex_);
    if (stopping_ || commands_.size() >= options_.command_queue_max) {
      ++dropped_;
      return;
    }
    commands_.emplace_back(d.target.command, std::move(body));
    cv_.notify_one();
    return;
  }
  if (!transport_) {
    ++dropped_;
    return;
  }
  live::Notification n;
  n.subscription_id = "alarm-policy:" + d.policy_id;
  n.uri = d.target.uri;
  n.headers = {{"Content-Type", "application/json"}};
  n.body = std::move(body);
  const bool accepted = transport_->send(
      std::move(n), [this](const live::SendOutcome& o) { ++(o.delivered ? delivered_ : failed_); });
  if (!accepted) ++dropped_;
}

void Notifier::run_commands() {
  while (true) {
    std::pair<std::vector<std::string>, std::string> job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !commands_.empty(); });
      if (commands_.empty()) return;  // stopping and drained
      job = std::move(commands_.front());
      commands_.pop_front();
    }
    ++(run_command(job.first, job.second, options_.command_timeout) ? delivered_ : failed_);
  }
}

Notifier::Stats Notifier::stats() const {
  return {sent_.load(), delivered_.load(), failed_.load(), dropped_.load()};
}

}  // namespace cityroom::alarms
