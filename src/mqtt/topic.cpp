// MQTT topic names and filters (MQTT 3.1.1 §4.7): checks and matching with wildcard capture.
#include <fmt/format.h>

#include "mqtt/mqtt.h"

namespace cityroom::mqtt {
namespace {

using base::ErrorKind;

// Calls f(level) for each `/`-separated level; stops early when f returns false.
template <class F>
void for_each_level(std::string_view s, F f) {
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = s.find('/', start);
    const auto level = s.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (!f(level, slash == std::string_view::npos)) return;
    if (slash == std::string_view::npos) return;
    start = slash + 1;
  }
}

base::Result<void> check_text(std::string_view what, std::string_view s) {
  if (s.empty())
    return base::fail(ErrorKind::kInvalidRequest, fmt::format("an MQTT {} is empty", what));
  if (s.size() > kTopicBytesMax) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("an MQTT {} is at most {} bytes", what, kTopicBytesMax));
  }
  if (!base::is_valid_utf8(s) || s.find('\0') != std::string_view::npos) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("the MQTT {} is not valid UTF-8 without NUL", what));
  }
  return {};
}

}  // namespace

base::Result<void> check_filter(std::string_view filter) {
  if (auto ok = check_text("topic filter", filter); !ok) return ok;
  std::string error;
  for_each_level(filter, [&](std::string_view level, bool last) {
    const bool has_wild = level.find_first_of("+#") != std::string_view::npos;
    if (has_wild && level.size() != 1) {
      error = fmt::format(
          "in the MQTT topic filter '{}', '+' and '#' must stand alone as a whole "
          "level (like a/+/b or a/#)",
          filter);
    } else if (level == "#" && !last) {
      error = fmt::format("in the MQTT topic filter '{}', '#' must be the last level", filter);
    }
    return error.empty();
  });
  if (!error.empty()) return base::fail(ErrorKind::kInvalidRequest, std::move(error));
  return {};
}

base::Result<void> check_topic(std::string_view topic) {
  if (auto ok = check_text("topic", topic); !ok) return ok;
  if (topic.find_first_of("+#") != std::string_view::npos) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("the MQTT topic '{}' contains a wildcard (+ or #)", topic));
  }
  return {};
}

std::size_t wildcard_count(std::string_view filter) {
  std::size_t n = 0;
  for_each_level(filter, [&](std::string_view level, bool) {
    if (level == "+" || level == "#") ++n;
    return true;
  });
  return n;
}

std::optional<std::vector<std::string_view>> match_topic(std::string_view filter,
                                                         std::string_view topic) {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#')) {
    return std::nullopt;
  }
  std::vector<std::string_view> captures;
  std::size_t f = 0, t = 0;  // start of the current level in filter / topic
  while (true) {
    const std::size_t f_end = std::min(filter.find('/', f), filter.size());
    const auto f_level = filter.substr(f, f_end - f);
    if (f_level == "#") {
      captures.push_back(topic.substr(t));
      return captures;
    }
    const std::size_t t_end = std::min(topic.find('/', t), topic.size());
    const auto t_level = topic.substr(t, t_end - t);
    if (f_level == "+") {
      captures.push_back(t_level);
    } else if (f_level != t_level) {
      return std::nullopt;
    }
    const bool f_last = f_end == filter.size();
    const bool t_last = t_end == topic.size();
    if (f_last && t_last) return captures;
    if (f_last) return std::nullopt;  // topic has more levels
    f = f_end + 1;
    if (t_last) {
      // The topic is out of levels; only a final `#` still matches (`a/#` matches `a`), and
      // it stands for nothing.
      if (filter.substr(f) == "#") {
        captures.emplace_back();
        return captures;
      }
      return std::nullopt;
    }
    t = t_end + 1;
  }
}

}  // namespace cityroom::mqtt
