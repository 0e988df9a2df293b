// `dsagent doctor`: what this machine gives dsagent — sandbox support, API key, directories.
#pragma once

namespace dsagent {

int DoctorCommand();

}  // namespace dsagent
