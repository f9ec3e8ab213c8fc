// governance/form: application/x-www-form-urlencoded bodies (Open311 POST requests) → ordered
// name/value pairs, percent- and '+'-decoded. Malformed escapes and invalid UTF-8 are errors,
// never silently mangled.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/base.h"

namespace cityroom::governance {

using FormFields = std::vector<std::pair<std::string, std::string>>;

base::Result<FormFields> parse_form(std::string_view body);
// The first value of `name`, or nullptr.
const std::string* form_value(const FormFields& f, std::string_view name);

}  // namespace cityroom::governance
