#pragma once
// The admin web console: admin/console/index.html, embedded at build time
// (embed_console.py) and served at / on the admin port. Static HTML, CSS
// and JS in one file: no build step, nothing fetched from elsewhere. The
// page holds no data; it calls ping.admin.v1.AdminService like any client.

#include <string_view>

namespace ping::admin {

std::string_view console_page();

} // namespace ping::admin
