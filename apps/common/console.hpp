#pragma once
// The admin web console: apps/common/console/index.html, embedded at build
// time and served at / on the admin port. Static HTML, CSS and JS in one
// file: no build step, nothing fetched from elsewhere.

#include <string_view>

namespace ping::apps {

std::string_view console_page();

} // namespace ping::apps
