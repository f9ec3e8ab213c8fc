// The pure half of ingestion: payload → entities, and the dead-letter body.
#include <fmt/format.h>

#include <cmath>

#include "ingest/ingest.h"

namespace cityroom::ingest {
namespace {

using base::ErrorKind;

constexpr base::Micros kLatestTime = 253'402'300'799'000'000;  // 9999-12-31T23:59:59Z

// A JSON pointer lookup that copies the value out (the pointer API lives on json::value).
std::optional<json::value> pointer_value(const json::value& payload, std::string_view field) {
  std::error_code ec;
  const auto* v = payload.find_pointer(field, ec);
  if (ec || !v) return std::nullopt;
  return *v;
}

std::optional<json::value> field_value(const json::value& payload, std::string_view field) {
  if (!field.empty() && field.front() == '/') return pointer_value(payload, field);
  const auto* v = payload.get_object().if_contains(field);
  if (!v) return std::nullopt;
  return *v;
}

base::Result<std::string> observed_at(const Mapping& m, const json::value& payload,
                                      base::Micros received_at) {
  if (!m.observed_at_field) return base::format_iso8601(received_at);
  const auto& field = *m.observed_at_field;
  const auto v = field_value(payload, field);
  if (!v || v->is_null()) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("the observedAt field '{}' is missing", field));
  }
  std::optional<base::Micros> t;
  switch (m.observed_at_format) {
    case TimeFormat::kIso8601:
      if (v->is_string()) t = base::parse_iso8601(v->get_string());
      break;
    case TimeFormat::kEpochSeconds:
    case TimeFormat::kEpochMillis:
      if (v->is_number()) {
        const double per = m.observed_at_format == TimeFormat::kEpochSeconds ? 1e6 : 1e3;
        const double micros = v->to_number<double>() * per;
        if (std::isfinite(micros) && micros >= 0 && micros <= static_cast<double>(kLatestTime)) {
          t = static_cast<base::Micros>(std::llround(micros));
        }
      }
      break;
  }
  if (!t || *t < 0 || *t > kLatestTime) {
    static constexpr std::string_view kNames[] = {"an ISO 8601 date-time",
                                                  "a number of seconds since 1970",
                                                  "a number of milliseconds since 1970"};
    return base::fail(
        ErrorKind::kBadRequestData,
        fmt::format("the observedAt field '{}' is not {}: {}", field,
                    kNames[static_cast<int>(m.observed_at_format)], json::serialize(*v)));
  }
  return base::format_iso8601(*t);
}

base::Result<json::value> field_property_value(const FieldMap& f, const json::value& v) {
  if (!f.scale) return v;
  if (!v.is_number()) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("the field '{}' must be a number (it has a scale), not {}",
                                  f.field, json::kind_name(v)));
  }
  const double scaled = v.to_number<double>() * *f.scale;
  if (!std::isfinite(scaled)) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("the field '{}' scaled is not a finite number", f.field));
  }
  return json::value(scaled);
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                   (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) | std::uint8_t(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (const auto rest = bytes.size() - i; rest > 0) {
    std::uint32_t n = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    if (rest == 2) n |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

base::Result<std::string> expand_id_template(std::string_view tmpl,
                                             const std::vector<std::string_view>& captures) {
  std::string out;
  out.reserve(tmpl.size() + 32);
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    const auto close = tmpl[i] == '{' ? tmpl.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out += tmpl[i];
      continue;
    }
    std::size_t n = 0;
    for (char c : tmpl.substr(i + 1, close - i - 1)) n = n * 10 + static_cast<std::size_t>(c - '0');
    if (n < 1 || n > captures.size()) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("the id template {} names topic level {{{}}}, which the "
                                    "topic does not have",
                                    tmpl, n));
    }
    if (captures[n - 1].empty()) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("topic level {{{}}} is empty, so there is no entity id", n));
    }
    out += captures[n - 1];
    i = close;
  }
  if (!base::is_uri(out)) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("the entity id '{}' made from the topic is not a URI", out));
  }
  return out;
}

base::Result<json::object> map_fields(const Mapping& m,
                                      const std::vector<std::string_view>& captures,
                                      const json::value& payload, base::Micros received_at) {
  if (!payload.is_object()) {
    return base::fail(
        ErrorKind::kBadRequestData,
        fmt::format("a device payload must be a JSON object, not {}", json::kind_name(payload)));
  }
  auto id = expand_id_template(m.id_template, captures);
  if (!id) return std::unexpected(id.error());
  auto observed = observed_at(m, payload, received_at);
  if (!observed) return std::unexpected(observed.error());
  json::object entity{{"id", std::move(*id)}, {"type", m.entity_type}};
  std::size_t mapped = 0;
  for (const auto& f : m.fields) {
    const auto v = field_value(payload, f.field);
    if (!v || v->is_null()) {
      if (f.optional) continue;
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("the field '{}' is missing", f.field));
    }
    auto value = field_property_value(f, *v);
    if (!value) return std::unexpected(value.error());
    json::object property{
        {"type", "Property"}, {"value", std::move(*value)}, {"observedAt", *observed}};
    if (f.unit_code) property["unitCode"] = *f.unit_code;
    entity[f.attribute] = std::move(property);
    ++mapped;
  }
  if (mapped == 0) {
    return base::fail(ErrorKind::kBadRequestData, "none of the mapped fields is in the payload");
  }
  return entity;
}

base::Result<model::Entity> fields_to_entity(const Mapping& m,
                                             const std::vector<std::string_view>& captures,
                                             const json::value& payload,
                                             const ldcontext::Context& ctx,
                                             base::Micros received_at) {
  auto wire = map_fields(m, captures, payload, received_at);
  if (!wire) return std::unexpected(wire.error());
  return model::parse_entity(*wire, ctx, {model::ParseMode::kEntity, false, received_at});
}

base::Result<std::vector<hub::BatchItem>> ngsi_ld_items(const json::value& payload,
                                                        const ldcontext::Context& ctx,
                                                        ldcontext::ContextStore& contexts,
                                                        base::Micros now) {
  const json::value* first = &payload;
  std::size_t count = 1;
  if (payload.is_array()) {
    const auto& a = payload.get_array();
    if (a.empty()) return base::fail(ErrorKind::kBadRequestData, "the entity array is empty");
    if (a.size() > hub::kBatchEntitiesMax) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("a message holds at most {} entities, this one {}",
                                    hub::kBatchEntitiesMax, a.size()));
    }
    first = a.data();
    count = a.size();
  } else if (!payload.is_object()) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("an NGSI-LD payload must be an entity object or an array of "
                                  "them, not {}",
                                  json::kind_name(payload)));
  }
  std::vector<hub::BatchItem> items;
  items.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const json::value& v = first[i];
    hub::BatchItem item{"", base::fail(ErrorKind::kBadRequestData, "")};
    if (!v.is_object()) {
      item.entity = base::fail(
          ErrorKind::kBadRequestData,
          fmt::format("an array element must be an entity object, not {}", json::kind_name(v)));
      items.push_back(std::move(item));
      continue;
    }
    const auto& o = v.get_object();
    if (const auto* id = o.if_contains("id"); id && id->is_string()) item.id = id->get_string();
    if (const auto* spec = o.if_contains("@context")) {
      auto own = contexts.resolve(*spec);
      item.entity = own ? model::parse_entity(o, **own, {model::ParseMode::kEntity, false, now})
                        : base::Result<model::Entity>(std::unexpected(own.error()));
    } else {
      item.entity = model::parse_entity(o, ctx, {model::ParseMode::kEntity, false, now});
    }
    items.push_back(std::move(item));
  }
  return items;
}

std::string dead_letter_json(std::string_view topic, std::string_view mapping,
                             std::string_view error, std::string_view payload,
                             base::Micros received_at) {
  json::object body{{"topic", topic}, {"mapping", mapping}, {"error", error}};
  std::string_view kept = payload;
  const bool truncated = payload.size() > kDeadLetterPayloadBytesMax;
  if (truncated) {
    std::size_t cut = kDeadLetterPayloadBytesMax;
    // Do not split a UTF-8 sequence: back up over continuation bytes.
    while (cut > 0 && (static_cast<unsigned char>(payload[cut]) & 0xC0) == 0x80) --cut;
    kept = payload.substr(0, cut);
  }
  if (base::is_valid_utf8(kept)) {
    body["payload"] = kept;
  } else {
    body["payloadBase64"] = base64(kept);
  }
  if (truncated) body["payloadTruncated"] = true;
  body["receivedAt"] = base::format_iso8601(received_at);
  if (!base::is_valid_utf8(topic)) body["topic"] = base64(topic);
  if (!base::is_valid_utf8(error)) body["error"] = "(the error text was not UTF-8)";
  return json::serialize(body);
}

}  // namespace cityroom::ingest
