// governance/open311_format: Open311 GeoReport v2 answers in its two formats. Every answer is
// built once as JSON (the spec's JSON shapes) and, for `.xml`, written as the spec's XML with
// libxml2's text writer (escaping and UTF-8 are the library's job): the root element is named
// by the call (services, service_definition, service_requests, discovery, errors), array
// elements get the singular of their member name (services → service, attributes →
// attribute, values → value, endpoints → endpoint, formats → format, service_requests →
// request, errors → error). Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/base.h"
#include "json/json.h"

namespace cityroom::governance {

enum class Open311Format { kJson, kXml };

// "services.json" → {"services", kJson}; nullopt for a missing or unknown suffix.
std::optional<std::pair<std::string, Open311Format>> split_format(std::string_view file);

// `root` names the XML document element; `item` names the elements of a top-level array.
std::string render_open311(const json::value& v, Open311Format f, std::string_view root,
                           std::string_view item);

std::string_view content_type(Open311Format f);

}  // namespace cityroom::governance
