#include "governance/open311_format.h"

#include <libxml/xmlwriter.h>

#include <map>

namespace cityroom::governance {
namespace {

std::string singular(std::string_view plural) {
  static const std::map<std::string, std::string, std::less<>> kNames = {
      {"services", "service"},   {"attributes", "attribute"}, {"values", "value"},
      {"endpoints", "endpoint"}, {"formats", "format"},       {"service_requests", "request"},
      {"errors", "error"},       {"keywords", "keyword"}};
  const auto it = kNames.find(plural);
  return it == kNames.end() ? std::string("item") : it->second;
}

const xmlChar* x(const std::string& s) { return reinterpret_cast<const xmlChar*>(s.c_str()); }

void write(xmlTextWriterPtr w, const std::string& name, const json::value& v);

void write_children(xmlTextWriterPtr w, const json::value& v, const std::string& item) {
  if (v.is_object()) {
    for (const auto& [k, child] : v.as_object()) write(w, std::string(k), child);
  } else if (v.is_array()) {
    for (const auto& child : v.as_array()) write(w, item, child);
  } else if (v.is_string()) {
    xmlTextWriterWriteString(w, x(std::string(v.as_string())));
  } else if (v.is_bool()) {
    xmlTextWriterWriteString(w, x(std::string(v.as_bool() ? "true" : "false")));
  } else if (!v.is_null()) {
    xmlTextWriterWriteString(w, x(json::serialize(v)));
  }
}

void write(xmlTextWriterPtr w, const std::string& name, const json::value& v) {
  xmlTextWriterStartElement(w, x(name));
  write_children(w, v, singular(name));
  xmlTextWriterEndElement(w);
}

}  // namespace

std::optional<std::pair<std::string, Open311Format>> split_format(std::string_view file) {
  const auto dot = file.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  const auto ext = file.substr(dot + 1);
  if (ext == "json") return std::pair{std::string(file.substr(0, dot)), Open311Format::kJson};
  if (ext == "xml") return std::pair{std::string(file.substr(0, dot)), Open311Format::kXml};
  return std::nullopt;
}

std::string render_open311(const json::value& v, Open311Format f, std::string_view root,
                           std::string_view item) {
  if (f == Open311Format::kJson) return json::serialize(v);
  xmlBufferPtr buffer = xmlBufferCreate();
  xmlTextWriterPtr w = xmlNewTextWriterMemory(buffer, 0);
  xmlTextWriterStartDocument(w, nullptr, "UTF-8", nullptr);
  xmlTextWriterStartElement(w, x(std::string(root)));
  write_children(w, v, std::string(item));
  xmlTextWriterEndElement(w);
  xmlTextWriterEndDocument(w);
  xmlFreeTextWriter(w);  // flushes into the buffer
  std::string out(reinterpret_cast<const char*>(xmlBufferContent(buffer)),
                  static_cast<std::size_t>(xmlBufferLength(buffer)));
  xmlBufferFree(buffer);
  return out;
}

std::string_view content_type(Open311Format f) {
  return f == Open311Format::kJson ? "application/json; charset=utf-8"
                                   : "text/xml; charset=utf-8";
}

}  // namespace cityroom::governance
