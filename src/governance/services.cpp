#include "governance/services.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace cityroom::governance {
namespace {

using base::ErrorKind;

base::Result<std::string> need_string(const json::object& o, std::string_view key,
                                      const std::string& where, bool required = true) {
  const json::value* v = json::find(o, key);
  if (!v) {
    if (!required) return std::string();
    return base::fail(ErrorKind::kBadRequestData, fmt::format("{}.{}: missing", where, key));
  }
  if (!v->is_string()) {
    return base::fail(ErrorKind::kBadRequestData, fmt::format("{}.{}: not a string", where, key));
  }
  return std::string(v->as_string());
}

bool valid_code(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

}  // namespace

const Service* Open311Config::find(std::string_view code) const {
  for (const auto& s : services) {
    if (s.code == code) return &s;
  }
  return nullptr;
}

bool Open311Config::key_ok(std::string_view key) const {
  for (const auto& k : api_keys) {
    if (k == key) return true;
  }
  return false;
}

base::Result<Open311Config> parse_open311_config(std::string_view text, std::string_view name) {
  auto doc = json::parse(text);
  if (!doc) {
    return base::fail(ErrorKind::kBadRequestData, fmt::format("{}: {}", name, doc.error().detail));
  }
  if (!doc->is_object()) {
    return base::fail(ErrorKind::kBadRequestData, fmt::format("{}: not a JSON object", name));
  }
  const auto& o = doc->as_object();
  const std::string top(name);
  Open311Config c;
  for (auto [field, key] : {std::pair{&c.jurisdiction_id, "jurisdiction_id"},
                            std::pair{&c.contact, "contact"},
                            std::pair{&c.key_service, "key_service"},
                            std::pair{&c.changeset, "changeset"}}) {
    auto v = need_string(o, key, top, false);
    if (!v) return std::unexpected(v.error());
    *field = std::move(*v);
  }
  if (const auto* keys = json::find(o, "apiKeys")) {
    if (!keys->is_array()) return base::fail(ErrorKind::kBadRequestData, top + ".apiKeys: not an array");
    for (const auto& k : keys->as_array()) {
      if (!k.is_string() || k.as_string().empty()) {
        return base::fail(ErrorKind::kBadRequestData, top + ".apiKeys: each key is a non-empty string");
      }
      c.api_keys.emplace_back(k.as_string());
    }
  }
  const auto* services = json::find(o, "services");
  if (!services || !services->is_array() || services->as_array().empty()) {
    return base::fail(ErrorKind::kBadRequestData, top + ".services: a non-empty array is required");
  }
  for (std::size_t i = 0; i < services->as_array().size(); ++i) {
    const std::string where = fmt::format("{}.services[{}]", top, i);
    const auto* so = services->as_array()[i].if_object();
    if (!so) return base::fail(ErrorKind::kBadRequestData, where + ": not an object");
    Service s;
    auto code = need_string(*so, "service_code", where);
    if (!code) return std::unexpected(code.error());
    if (!valid_code(*code)) {
      return base::fail(ErrorKind::kBadRequestData,
                        where + ".service_code: letters, digits, '-' and '_' only (1-64)");
    }
    if (c.find(*code)) {
      return base::fail(ErrorKind::kBadRequestData, where + ".service_code: '" + *code + "' repeats");
    }
    s.code = *code;
    for (auto [field, key, req] : {std::tuple{&s.name, "service_name", true},
                                   std::tuple{&s.description, "description", false},
                                   std::tuple{&s.group, "group", false},
                                   std::tuple{&s.department, "department", false}}) {
      auto v = need_string(*so, key, where, req);
      if (!v) return std::unexpected(v.error());
      *field = std::move(*v);
    }
    if (const auto* kw = json::find(*so, "keywords"); kw && kw->is_array()) {
      for (const auto& k : kw->as_array()) {
        if (k.is_string()) s.keywords.emplace_back(k.as_string());
      }
    }
    if (const auto* attrs = json::find(*so, "attributes")) {
      if (!attrs->is_array()) return base::fail(ErrorKind::kBadRequestData, where + ".attributes: not an array");
      int order = 0;
      for (std::size_t j = 0; j < attrs->as_array().size(); ++j) {
        const std::string aw = fmt::format("{}.attributes[{}]", where, j);
        const auto* ao = attrs->as_array()[j].if_object();
        if (!ao) return base::fail(ErrorKind::kBadRequestData, aw + ": not an object");
        ServiceAttribute a;
        auto acode = need_string(*ao, "code", aw);
        if (!acode) return std::unexpected(acode.error());
        if (!valid_code(*acode)) {
          return base::fail(ErrorKind::kBadRequestData, aw + ".code: letters, digits, '-' and '_' only");
        }
        a.code = *acode;
        auto dt = need_string(*ao, "datatype", aw);
        if (!dt) return std::unexpected(dt.error());
        static constexpr std::string_view kTypes[] = {"string", "number", "datetime", "text",
                                                      "singlevaluelist", "multivaluelist"};
        if (std::find(std::begin(kTypes), std::end(kTypes), *dt) == std::end(kTypes)) {
          return base::fail(ErrorKind::kBadRequestData,
                            fmt::format("{}.datatype: '{}' is not one of string, number, datetime, "
                                        "text, singlevaluelist, multivaluelist", aw, *dt));
        }
        a.datatype = *dt;
        auto desc = need_string(*ao, "description", aw, false);
        auto dtd = need_string(*ao, "datatype_description", aw, false);
        if (!desc || !dtd) return std::unexpected((!desc ? desc : dtd).error());
        a.description = *desc;
        a.datatype_description = *dtd;
        if (const auto* r = json::find(*ao, "required"); r && r->is_bool()) a.required = r->as_bool();
        if (const auto* v = json::find(*ao, "variable"); v && v->is_bool()) a.variable = v->as_bool();
        a.order = ++order;
        if (const auto* vals = json::find(*ao, "values"); vals && vals->is_array()) {
          for (const auto& v : vals->as_array()) {
            const auto* vo = v.if_object();
            const auto k = vo ? json::get_string(*vo, "key") : std::nullopt;
            const auto n = vo ? json::get_string(*vo, "name") : std::nullopt;
            if (!k || !n) return base::fail(ErrorKind::kBadRequestData, aw + ".values: each needs key and name");
            a.values.emplace_back(std::string(*k), std::string(*n));
          }
        }
        if (a.datatype.ends_with("valuelist") && a.values.empty()) {
          return base::fail(ErrorKind::kBadRequestData, aw + ".values: a value list needs values");
        }
        s.attributes.push_back(std::move(a));
      }
    }
    c.services.push_back(std::move(s));
  }
  return c;
}

base::Result<Open311Config> load_open311_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return base::fail(ErrorKind::kBadRequestData, fmt::format("cannot read {}", file.string()));
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_open311_config(text.str(), file.filename().string());
}

}  // namespace cityroom::governance
