// Bulk history as CSV: the format (see history_csv.h) and the two routes.
// Import validates the whole file first (nothing is stored from a file with a bad line), then
// hands the points to the hub in work items of about kImportItemPoints, so the writer
// interleaves other writes with a long import instead of holding one huge transaction.
// Export is BOUNDED, not streamed: at most kExportRowsMax lines and kExportEntitiesMax
// entities in one answer (more → 403 TooManyResults asking for a narrower window).
#include "api/history_csv.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>
#include <mutex>

#include "api/call.h"
#include "api/routes.h"

namespace cityroom::api {

namespace {

using base::ErrorKind;

constexpr std::size_t kImportItemPoints = 1000;   // points per writer work item
constexpr std::size_t kErrorsShown = 20;          // bad lines listed in a refusal
constexpr std::size_t kExportRowsMax = 1'000'000;
constexpr std::size_t kExportEntitiesMax = 10'000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

struct Field {
  std::string text;
  bool quoted = false;
};

// Splits one line into fields (RFC 4180 quoting within the line); nullopt: unterminated quote.
std::optional<std::vector<Field>> split_csv(std::string_view line) {
  std::vector<Field> out;
  std::size_t i = 0;
  for (;;) {
    Field f;
    while (i < line.size() && line[i] == ' ') ++i;
    if (i < line.size() && line[i] == '"') {
      f.quoted = true;
      ++i;
      for (;;) {
        if (i >= line.size()) return std::nullopt;
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            f.text += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        f.text += line[i++];
      }
      while (i < line.size() && line[i] != ',') ++i;  // blanks after the closing quote
    } else {
      const auto end = std::min(line.find(',', i), line.size());
      f.text = std::string(trim(line.substr(i, end - i)));
      i = end;
    }
    out.push_back(std::move(f));
    if (i >= line.size()) return out;
    ++i;  // the comma
  }
}

// A JSON number exactly as written (the whole field), else nullopt.
std::optional<json::value> number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  const char c = s.front();
  if (!(c == '-' || (c >= '0' && c <= '9'))) return std::nullopt;
  auto v = json::parse(s);
  if (!v || !(v->is_int64() || v->is_uint64() || v->is_double())) return std::nullopt;
  return std::move(*v);
}

bool needs_quotes(std::string_view s) {
  return s.empty() || s.find_first_of(",\"\r\n") != std::string_view::npos || s.front() == ' ' ||
         s.back() == ' ' || s.front() == '\t' || s.back() == '\t' || number(s).has_value();
}

void append_field(std::string& out, std::string_view s, bool force_quotes) {
  if (!force_quotes && !needs_quotes(s)) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace

std::string exact_time(base::Micros t) {
  std::string text = base::format_iso8601(t);
  if (const auto us = ((t % 1000) + 1000) % 1000; us != 0) {
    text.insert(text.size() - 1, fmt::format("{:03d}", us));
  }
  return text;
}

CsvParsed parse_history_csv(std::string_view text, const ldcontext::Context& ctx,
                            std::size_t line_offset) {
  CsvParsed out;
  std::size_t line_no = line_offset;
  bool header = false;
  auto bad = [&](std::string reason) { out.errors.push_back({line_no, std::move(reason)}); };
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!header) {
      header = true;
      auto fields = split_csv(line);
      std::string names;
      if (fields) {
        for (const auto& f : *fields) names += (names.empty() ? "" : ",") + f.text;
      }
      if (line_no == 1 + line_offset && line.starts_with("\xEF\xBB\xBF")) {
        names.erase(0, std::min<std::size_t>(3, names.size()));  // a UTF-8 byte order mark
      }
      if (names != kHistoryCsvHeader) {
        bad(fmt::format("the header must be '{}'", kHistoryCsvHeader));
        return out;
      }
      continue;
    }
    if (trim(line).empty()) continue;
    auto fields = split_csv(line);
    if (!fields) {
      bad("a quoted field is not closed on its line");
      continue;
    }
    if (fields->size() != 4) {
      bad(fmt::format("{} fields; entityId,attribute,time,value are 4", fields->size()));
      continue;
    }
    auto& f = *fields;
    CsvPoint p;
    p.line = line_no;
    if (!base::is_uri(f[0].text)) {
      bad(fmt::format("entityId '{}' is not a URI", f[0].text));
      continue;
    }
    p.entity = std::move(f[0].text);
    if (f[1].text.empty() || f[1].text.find_first_of(" \t<>\"{}|\\^`") != std::string::npos ||
        model::is_reserved_member(f[1].text)) {
      bad(fmt::format("attribute '{}' is not an attribute name", f[1].text));
      continue;
    }
    p.attribute = ctx.expand(f[1].text);
    auto time = base::parse_iso8601(f[2].text);
    if (!time) {
      bad(fmt::format("time '{}' is not an ISO 8601 date-time", f[2].text));
      continue;
    }
    p.time = *time;
    if (f[3].quoted) {
      p.value = json::value(f[3].text);
    } else if (auto n = number(f[3].text)) {
      p.value = std::move(*n);
    } else if (f[3].text.empty()) {
      bad("the value is empty (an empty string is written \"\")");
      continue;
    } else {
      p.value = json::value(f[3].text);
    }
    out.points.push_back(std::move(p));
  }
  if (!header) out.errors.push_back({1 + line_offset, "the file is empty"});
  return out;
}

std::string history_csv_line(std::string_view entity, std::string_view attribute,
                             std::string_view time, const json::value& value) {
  std::string out;
  append_field(out, entity, false);
  out += ',';
  append_field(out, attribute, false);
  out += ',';
  out += time;
  out += ',';
  if (value.is_int64() || value.is_uint64() || value.is_double()) {
    out += json::serialize(value);
  } else if (value.is_string()) {
    append_field(out, value.get_string(), false);
  } else {
    append_field(out, json::serialize(value), false);
  }
  out += '\n';
  return out;
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// For a limited grant: every entity must be a visible entity of a writable type, and every
// attribute one the grant may see. Returns the refusal (naming the first line) or nullopt.
std::optional<http::Response> import_refusal(Call& call, const std::vector<CsvPoint>& points) {
  if (!call.grant || !call.grant->limited()) return std::nullopt;
  std::map<std::string_view, std::size_t> first_line;
  std::map<std::pair<std::string_view, std::string_view>, std::size_t> first_attribute;
  for (const auto& p : points) {
    first_line.emplace(p.entity, p.line);
    first_attribute.emplace(std::pair<std::string_view, std::string_view>(p.entity, p.attribute),
                            p.line);
  }
  for (const auto& [id, line] : first_line) {
    auto got = call.deps->hub.get(call.tenant, id);
    if (!got) return http::Response::problem(got.error());
    if (!*got || !call.grant->may_see(**got)) {
      return http::Response::problem({ErrorKind::kResourceNotFound,
                                      fmt::format("line {}: entity {} does not exist", line, id)});
    }
    for (const auto& t : model::entity_types(**got)) {
      if (!call.grant->may_write_type(t)) {
        return refusal(403, "PermissionDenied",
                       fmt::format("line {}: {} may not write entities of type {}", line,
                                   call.grant->who(), t));
      }
    }
    // nor an attribute hidden from it (it could overwrite or probe it)
    for (auto it = first_attribute.lower_bound({id, {}});
         it != first_attribute.end() && it->first.first == id; ++it) {
      if (!call.grant->may_see_attribute(**got, it->first.second)) {
        return refusal(403, "PermissionDenied",
                       fmt::format("line {}: {} may not write the attribute {}", it->second,
                                   call.grant->who(), call.context->compact(it->first.second)));
      }
    }
  }
  return std::nullopt;
}

// Collects the outcome of an import's work items; answers once the last one is done.
struct ImportRun {
  std::shared_ptr<Call> call;
  std::atomic<std::size_t> pending{0};
  std::mutex mu;
  hub::TemporalOutcome total;
  std::optional<base::Error> error;
  std::size_t entities = 0;

  void done(base::Result<hub::TemporalOutcome> r) {
    {
      std::lock_guard lock(mu);
      if (!r) {
        if (!error) error = r.error();
      } else {
        total.points += r->points;
        total.created += r->created;
        total.advanced += r->advanced;
      }
    }
    if (pending.fetch_sub(1) != 1) return;
    if (error) {
      // Validation passed, so this is the store failing; earlier work items are committed.
      base::Error e = *error;
      e.detail = fmt::format("{} ({} points were stored before the failure)", e.detail,
                             total.points);
      return call->fail(e);
    }
    json::object body{{"points", total.points},
                      {"entities", entities},
                      {"newEntities", total.created},
                      {"currentEntitiesAdvanced", total.advanced}};
    reply_json(*call, 200, std::move(body), false);
  }
};

void import_history(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false});
  if (!call) return;
  const auto& r = call->request;
  const std::string* ct = r.header("content-type");
  const std::string type = ct ? lower(trim(std::string_view(*ct).substr(0, ct->find(';')))) : "";
  if (type != "text/csv") {
    return call->fail(ErrorKind::kUnsupportedMediaType,
                      fmt::format("Content-Type '{}' is not supported; send text/csv with the "
                                  "header line {}",
                                  ct ? *ct : "", kHistoryCsvHeader));
  }
  std::size_t offset = 0;
  if (const auto* o = r.query_param("lineOffset")) {
    auto v = parse_size(*o);
    if (!v) return call->fail(ErrorKind::kBadRequestData, "lineOffset: not a non-negative integer");
    offset = *v;
  }
  const auto* validate = r.query_param("validate");
  if (validate && *validate != "true" && *validate != "false") {
    return call->fail(ErrorKind::kBadRequestData, "validate: must be true or false");
  }
  auto parsed = parse_history_csv(r.body, *call->context, offset);
  if (!parsed.errors.empty()) {
    std::string detail = fmt::format("{} bad line(s), nothing stored: ", parsed.errors.size());
    json::array errors;
    for (std::size_t i = 0; i < parsed.errors.size() && i < kErrorsShown; ++i) {
      const auto& e = parsed.errors[i];
      if (i > 0) detail += "; ";
      detail += fmt::format("line {}: {}", e.line, e.reason);
      errors.push_back(json::object{{"line", e.line}, {"reason", e.reason}});
    }
    auto response = http::Response::problem({ErrorKind::kBadRequestData, detail});
    if (auto body = json::parse(response.body); body && body->is_object()) {
      body->get_object()["errors"] = std::move(errors);
      response.body = json::serialize(*body);
    }
    return call->respond(std::move(response));
  }
  if (parsed.points.empty()) {
    return call->fail(ErrorKind::kBadRequestData, "the file holds no line after the header");
  }
  if (auto refused = import_refusal(*call, parsed.points)) return call->respond(std::move(*refused));
  // Group by entity, in the file's order of first appearance.
  std::vector<hub::TemporalWrite> writes;
  std::map<std::string, std::size_t, std::less<>> index;
  const base::Micros now = base::now_micros();
  for (auto& p : parsed.points) {
    auto [it, fresh] = index.emplace(p.entity, writes.size());
    if (fresh) writes.push_back({p.entity, {}, {}});
    store::HistoryPoint point;
    point.attribute = std::move(p.attribute);
    point.time = p.time;
    point.modified = now;
    point.observed = true;
    point.instance = json::object{{model::key::kType, "Property"},
                                  {model::key::kValue, std::move(p.value)},
                                  {model::key::kObservedAt, base::format_iso8601(p.time)}};
    writes[it->second].points.push_back(std::move(point));
  }
  if (validate && *validate == "true") {
    return reply_json(*call,
                      200,
                      json::object{{"points", parsed.points.size()},
                                   {"entities", writes.size()},
                                   {"validated", true}},
                      false);
  }
  // Work items of about kImportItemPoints points (an entity's points may span items).
  std::vector<std::vector<hub::TemporalWrite>> items(1);
  std::size_t in_item = 0;
  for (auto& w : writes) {
    std::size_t from = 0;
    while (from < w.points.size()) {
      if (in_item >= kImportItemPoints) {
        items.emplace_back();
        in_item = 0;
      }
      const std::size_t take = std::min(w.points.size() - from, kImportItemPoints - in_item);
      hub::TemporalWrite part{w.id, {}, {}};
      part.points.assign(std::make_move_iterator(w.points.begin() + from),
                         std::make_move_iterator(w.points.begin() + from + take));
      items.back().push_back(std::move(part));
      from += take;
      in_item += take;
    }
  }
  auto run = std::make_shared<ImportRun>();
  run->call = std::make_shared<Call>(std::move(*call));
  run->entities = writes.size();
  run->pending = items.size();
  const std::string tenant = run->call->tenant;
  for (auto& item : items) {
    deps.hub.append_temporal(tenant, std::move(item), false,
                             [run](base::Result<hub::TemporalOutcome> r) { run->done(std::move(r)); });
  }
}

void export_history(Deps& deps, http::Request&& req, http::Respond respond) {
  // The answer is CSV; let the NGSI-LD negotiation see a JSON-compatible Accept.
  std::erase_if(req.headers, [](const auto& h) {
    return lower(h.first) == "accept" && lower(h.second).find("text/csv") != std::string::npos;
  });
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (!call) return;
  const auto& r = call->request;
  const auto& ctx = *call->context;
  const auto* type = r.query_param("type");
  const auto* id_list = r.query_param("id");
  if (!type == !id_list) {
    return call->fail(ErrorKind::kBadRequestData, "an export needs type= or id= (one of them)");
  }
  store::HistoryQuery q;
  q.values_only = true;
  if (const auto* attrs = r.query_param("attrs")) {
    std::vector<std::string> names;
    for (const auto& a : split_list(*attrs)) names.push_back(ctx.expand(a));
    q.attributes = std::move(names);
  }
  for (auto [name, slot] : {std::pair{"timeAt", &q.from}, std::pair{"endTimeAt", &q.to}}) {
    if (const auto* text = r.query_param(name)) {
      auto t = base::parse_iso8601(*text);
      if (!t) {
        return call->fail(ErrorKind::kBadRequestData,
                          fmt::format("{}: '{}' is not an ISO 8601 date-time", name, *text));
      }
      *slot = *t;
    }
  }
  if (q.to <= q.from) {
    return call->fail(ErrorKind::kBadRequestData, "endTimeAt must be later than timeAt");
  }
  // The entities: by id (history of deleted entities too) or the current ones of a type.
  std::vector<std::string> ids;
  std::map<std::string, model::Entity, std::less<>> current;
  if (id_list) {
    for (const auto& id : split_list(*id_list)) {
      if (!base::is_uri(id)) {
        return call->fail(ErrorKind::kBadRequestData, fmt::format("id: '{}' is not a URI", id));
      }
      if (call->grant) {
        auto got = deps.hub.get(call->tenant, id);
        if (!got) return call->fail(got.error());
        if (call->grant->limited() && (!*got || !visible(*call, **got))) continue;
        if (*got) current.emplace(id, std::move(**got));
      }
      ids.push_back(id);
    }
  } else {
    store::EntityQuery eq;
    eq.any_of_types = std::vector<std::string>{ctx.expand(*type)};
    eq.limit = kExportEntitiesMax + 1;
    restrict_query(*call, eq);
    auto found = deps.hub.query(call->tenant, eq);
    if (!found) return call->fail(found.error());
    if (found->entities.size() > kExportEntitiesMax) {
      return call->fail(ErrorKind::kTooManyResults,
                        fmt::format("more than {} entities of type {}; export them by id=",
                                    kExportEntitiesMax, *type));
    }
    for (auto& e : found->entities) {
      std::string id(e.at(model::key::kId).get_string());
      ids.push_back(id);
      current.emplace(std::move(id), std::move(e));
    }
  }
  std::string body(kHistoryCsvHeader);
  body += '\n';
  std::size_t rows = 0;
  for (const auto& id : ids) {
    q.entity_id = id;
    q.limit = kExportRowsMax - rows + 1;
    auto series = deps.hub.history(call->tenant, q);
    if (!series) return call->fail(series.error());
    const auto it = current.find(id);
    std::vector<std::pair<std::string, const store::HistorySeries*>> named;
    for (const auto& s : *series) {
      if (call->grant && it != current.end() &&
          !call->grant->may_see_attribute(it->second, s.attribute)) {
        continue;
      }
      named.emplace_back(ctx.compact(s.attribute), &s);
    }
    std::sort(named.begin(), named.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [name, s] : named) {
      rows += s->rows.size();
      if (rows > kExportRowsMax) {
        return call->fail(ErrorKind::kTooManyResults,
                          fmt::format("more than {} instances; narrow timeAt/endTimeAt, attrs or "
                                      "the entities",
                                      kExportRowsMax));
      }
      for (const auto& row : s->rows) {
        body += history_csv_line(id, name, exact_time(row.time), row.value);
      }
    }
  }
  http::Response response;
  response.status = 200;
  response.headers.emplace_back("content-type", "text/csv; charset=utf-8");
  response.body = std::move(body);
  call->respond(std::move(response));
}

}  // namespace

void register_history_csv(http::Router& router, Deps& deps) {
  router.add("POST", "/cityroom/v1/history/import", bound(deps, import_history));
  router.add("GET", "/cityroom/v1/history/export", bound(deps, export_history));
}

}  // namespace cityroom::api
