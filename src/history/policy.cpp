#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "history/history.h"

namespace cityroom::history {
namespace {

base::Error bad(std::string_view what) {
  return {base::ErrorKind::kBadRequestData, fmt::format("history policy: {}", what)};
}

base::Result<base::Micros> duration_member(const json::value& v, std::string_view where) {
  if (!v.is_string()) return std::unexpected(bad(fmt::format("{} must be a duration", where)));
  auto d = parse_duration(v.get_string());
  if (!d) return std::unexpected(bad(fmt::format("{}: {}", where, d.error().detail)));
  return *d;
}

base::Result<store::HistoryRetention> retention(const json::value& v, std::string_view where) {
  if (!v.is_object()) return std::unexpected(bad(fmt::format("{} must be an object", where)));
  store::HistoryRetention out;
  for (const auto& m : v.get_object()) {
    if (m.key() == "raw") {
      auto d = duration_member(m.value(), fmt::format("{}.raw", where));
      if (!d) return std::unexpected(d.error());
      out.raw = *d;
    } else if (m.key() == "rollups") {
      if (!m.value().is_array()) {
        return std::unexpected(bad(fmt::format("{}.rollups must be an array", where)));
      }
      for (const auto& r : m.value().get_array()) {
        if (!r.is_object()) return std::unexpected(bad("a rollup must be an object"));
        store::HistoryRetention::Rollup rollup;
        for (const auto& f : r.get_object()) {
          auto d = duration_member(f.value(), fmt::format("{}.rollups.{}", where, f.key()));
          if (!d) return std::unexpected(d.error());
          if (f.key() == "period")
            rollup.period = *d;
          else if (f.key() == "keep")
            rollup.keep = *d;
          else
            return std::unexpected(bad(fmt::format("unknown member {}", f.key())));
        }
        if (rollup.period <= 0) return std::unexpected(bad("a rollup needs a period"));
        out.rollups.push_back(rollup);
      }
    } else {
      return std::unexpected(bad(fmt::format("unknown member {}.{}", where, m.key())));
    }
  }
  return out;
}

}  // namespace

base::Result<store::HistoryPolicy> parse_policy(std::string_view text) {
  auto doc = json::parse(text);
  if (!doc || !doc->is_object()) return std::unexpected(bad("not a JSON object"));
  store::HistoryPolicy out;
  for (const auto& m : doc->get_object()) {
    if (m.key() == "default") {
      auto r = retention(m.value(), "default");
      if (!r) return std::unexpected(r.error());
      out.fallback = std::move(*r);
    } else if (m.key() == "types") {
      if (!m.value().is_object()) return std::unexpected(bad("types must be an object"));
      for (const auto& t : m.value().get_object()) {
        auto r = retention(t.value(), fmt::format("types.{}", std::string_view(t.key())));
        if (!r) return std::unexpected(r.error());
        out.types.emplace_back(std::string(t.key()), std::move(*r));
      }
    } else if (m.key() != "comment") {
      return std::unexpected(bad(fmt::format("unknown member {}", std::string_view(m.key()))));
    }
  }
  return out;
}

base::Result<store::HistoryPolicy> load_policy(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return base::fail(base::ErrorKind::kBadRequestData,
                      fmt::format("history policy: cannot read {}", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto p = parse_policy(text.str());
  if (!p) {
    return base::fail(p.error().kind, fmt::format("{}: {}", path, p.error().detail));
  }
  return p;
}

}  // namespace cityroom::history
