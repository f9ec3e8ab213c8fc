// Private to ldcontext: the NGSI-LD core context compiled into the binary.
#pragma once

#include <string>

namespace cityroom::ldcontext {

// The JSON text of data/contexts/ngsi-ld-core-context-v1.9.jsonld as it was at build time.
std::string embedded_core_context();

}  // namespace cityroom::ldcontext
