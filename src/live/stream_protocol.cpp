#include "live/stream_protocol.h"

#include <charconv>

#include <fmt/format.h>

#include "json/json.h"

namespace cityroom::live {

using base::ErrorKind;

namespace {

// The string members of a watch, by their wire name. One table for JSON messages and URL
// parameters, so both spell the protocol the same way.
struct Member {
  std::string_view name;
  std::string Watch::*field;
};
constexpr Member kWatchMembers[] = {
    {"type", &Watch::type},
    {"id", &Watch::id},
    {"idPattern", &Watch::id_pattern},
    {"q", &Watch::q},
    {"scopeQ", &Watch::scope_q},
    {"georel", &Watch::georel},
    {"geometry", &Watch::geometry},
    {"coordinates", &Watch::coordinates},
    {"geoproperty", &Watch::geoproperty},
    {"attrs", &Watch::attrs},
    {"options", &Watch::options},
    {"lang", &Watch::lang},
    {"context", &Watch::context},
};

const Member* find_member(std::string_view name) {
  for (const auto& m : kWatchMembers) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

constexpr std::string_view kDefaultQueryName = "default";
constexpr std::size_t kSnapshotPartMax = 1'000'000;

}  // namespace

base::Result<Watch> parse_watch_params(
    const std::vector<std::pair<std::string, std::string>>& params) {
  Watch w;
  std::vector<std::string_view> seen;
  for (const auto& [name, value] : params) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("parameter '{}' is given more than once", name));
    }
    seen.push_back(name);
    if (name == "query") {
      w.query = value;
    } else if (name == "since") {
      w.since = value;
    } else if (const auto* m = find_member(name)) {
      w.*(m->field) = value;
    } else {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("unknown parameter '{}' for a stream watch", name));
    }
  }
  if (w.query.empty()) w.query = kDefaultQueryName;
  return w;
}

namespace stream {

namespace {

std::unexpected<Refusal> refuse(std::string query, ErrorKind kind, std::string detail) {
  return std::unexpected(Refusal{std::move(query), base::Error{kind, std::move(detail)}});
}

}  // namespace

std::expected<ClientMessage, Refusal> parse_client_message(std::string_view text,
                                                           std::size_t name_bytes_max) {
  auto parsed = json::parse(text);
  if (!parsed) return refuse("", parsed.error().kind, parsed.error().detail);
  if (!parsed->is_object()) {
    return refuse("", ErrorKind::kInvalidRequest, "a stream message must be a JSON object");
  }
  const auto& o = parsed->get_object();
  ClientMessage msg;
  // The name first, so every later refusal can say which query it concerns.
  if (const auto* q = o.if_contains("query")) {
    if (!q->is_string() || q->get_string().empty()) {
      return refuse("", ErrorKind::kBadRequestData, "'query' must be a non-empty string");
    }
    if (q->get_string().size() > name_bytes_max) {
      return refuse("", ErrorKind::kBadRequestData,
                    fmt::format("'query' is longer than {} bytes", name_bytes_max));
    }
    msg.watch.query = std::string(q->get_string());
  } else {
    return refuse("", ErrorKind::kBadRequestData, "'query' (the name of the watch) is missing");
  }
  const std::string& name = msg.watch.query;
  const auto* op = o.if_contains("op");
  if (!op || !op->is_string()) {
    return refuse(name, ErrorKind::kBadRequestData, "'op' must be \"watch\" or \"unwatch\"");
  }
  if (op->get_string() == "unwatch") {
    msg.op = ClientMessage::Op::kUnwatch;
    return msg;
  }
  if (op->get_string() != "watch") {
    return refuse(name, ErrorKind::kBadRequestData,
                  fmt::format("unknown op '{}' (watch or unwatch)", std::string_view(op->get_string())));
  }
  for (const auto& [key, value] : o) {
    if (key == "op" || key == "query") continue;
    if (!value.is_string()) {
      return refuse(name, ErrorKind::kBadRequestData,
                    fmt::format("'{}' must be a string (as in a query string), not {}",
                                std::string_view(key), json::kind_name(value)));
    }
    const std::string_view v = value.get_string();
    if (key == "since") {
      msg.watch.since = std::string(v);
    } else if (key == "snapshotPart") {
      std::size_t n = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc{} || end != v.data() + v.size() || n < 1 || n > kSnapshotPartMax) {
        return refuse(name, ErrorKind::kBadRequestData,
                      fmt::format("'snapshotPart' must be a count of entities from 1 to {}, not "
                                  "'{}'",
                                  kSnapshotPartMax, v));
      }
      msg.watch.snapshot_part = n;
    } else if (const auto* m = find_member(key)) {
      msg.watch.*(m->field) = std::string(v);
    } else {
      return refuse(name, ErrorKind::kBadRequestData,
                    fmt::format("unknown member '{}' in a watch", std::string_view(key)));
    }
  }
  return msg;
}

std::optional<Position> parse_position(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return std::nullopt;
  }
  Position p;
  p.epoch = std::string(text.substr(0, colon));
  const auto digits = text.substr(colon + 1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p.seq);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return p;
}

std::string event_id(std::string_view epoch, std::uint64_t seq) {
  return fmt::format("{}:{}", epoch, seq);
}

std::string quote_json(std::string_view s) { return json::serialize(json::value(s)); }

std::string delta_head(std::string_view quoted_name) {
  return fmt::format(R"({{"kind":"delta","query":{})", quoted_name);
}

std::string delta_tail(std::uint64_t seq, const std::vector<Effect>& effects) {
  std::size_t bytes = 64;
  for (const auto& e : effects) bytes += (e.rendered ? e.rendered->size() : e.id.size() + 4) + 1;
  std::string out;
  out.reserve(bytes);
  out += fmt::format(R"(,"seq":{},"upsert":[)", seq);
  bool first = true;
  for (const auto& e : effects) {
    if (!e.rendered) continue;
    if (!first) out += ',';
    first = false;
    out += *e.rendered;
  }
  out += R"(],"remove":[)";
  first = true;
  for (const auto& e : effects) {
    if (e.rendered) continue;
    if (!first) out += ',';
    first = false;
    out += quote_json(e.id);
  }
  out += "]}";
  return out;
}

std::vector<std::string> snapshot_messages(std::string_view quoted_name, std::string_view epoch,
                                           std::uint64_t seq, std::string_view reason,
                                           const std::vector<std::string>& rendered,
                                           std::size_t part_entities) {
  const std::size_t per = part_entities == 0 ? rendered.size() : part_entities;
  const std::size_t parts = per == 0 ? 1 : std::max<std::size_t>(1, (rendered.size() + per - 1) / per);
  std::vector<std::string> out(parts);
  for (std::size_t p = 0; p < parts; ++p) {
    const std::size_t from = p * per, to = std::min(rendered.size(), from + per);
    std::size_t bytes = 160 + quoted_name.size() + reason.size();
    for (std::size_t i = from; i < to; ++i) bytes += rendered[i].size() + 1;
    std::string& m = out[p];
    m.reserve(bytes);
    m += fmt::format(R"({{"kind":"snapshot","query":{},"epoch":{},"seq":{})", quoted_name,
                     quote_json(epoch), seq);
    if (parts > 1) m += fmt::format(R"(,"part":{},"parts":{})", p + 1, parts);
    if (!reason.empty()) m += fmt::format(R"(,"reason":{})", quote_json(reason));
    m += R"(,"entities":[)";
    for (std::size_t i = from; i < to; ++i) {
      if (i > from) m += ',';
      m += rendered[i];
    }
    m += "]}";
  }
  return out;
}

std::string heartbeat_message(std::string_view epoch, std::uint64_t seq) {
  return fmt::format(R"({{"kind":"heartbeat","epoch":{},"seq":{}}})", quote_json(epoch), seq);
}

std::string resync_message(std::string_view quoted_name, std::string_view reason) {
  return fmt::format(R"({{"kind":"resync","query":{},"reason":{}}})", quoted_name,
                     quote_json(reason));
}

std::string error_message(std::string_view query, const base::Error& error) {
  return fmt::format(R"({{"kind":"error","query":{},"error":{}}})",
                     query.empty() ? std::string("null") : quote_json(query),
                     base::problem_json(error));
}

}  // namespace stream
}  // namespace cityroom::live
