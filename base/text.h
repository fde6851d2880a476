// Splitting text without iostreams (a static binary that avoids <sstream> stays hundreds of KiB
// smaller: the sentry's resident memory is mostly its own code).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cryo {

// Fields separated by `sep`, as std::getline reads them: empty fields inside are kept, no field
// follows a trailing separator, and empty text has none.
std::vector<std::string> split(std::string_view text, char sep);
// Whitespace-separated words (as `>>` reads them).
std::vector<std::string> words(std::string_view text);

}  // namespace cryo
