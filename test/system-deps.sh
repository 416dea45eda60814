#!/usr/bin/env bash
# The operating-system packages `npm test` needs (`npm start` needs none of them), checked in one place: .ci/run
# runs this script, and so does `npm test` (its pretest step) and the suites' global setup (--check).
#   bash test/system-deps.sh           install what is missing when it may (root, or sudo without a password, and
#                                      apt-get); otherwise print the one command to run and exit 1
#   bash test/system-deps.sh --check   only check: exit 1 with that command when something is missing
set -uo pipefail

PY=/usr/bin/python3 # Debian's python3: a pyenv python3 first on PATH cannot import Debian's modules
missing=()
need() { # need PACKAGE TEST...: the package is missing when the test fails
  local pkg=$1
  shift
  "$@" >/dev/null 2>&1 || missing+=("$pkg")
}
pymod() { [ -x "$PY" ] && "$PY" -c "import $1"; }

need socat command -v socat                                   # the serial box over a real pseudo-terminal
need chromium command -v chromium                             # display page, dashboard, report screenshots
need poppler-utils command -v pdftoppm                        # the PDF report, read back as images
need unzip command -v unzip                                   # the Cowley V4 images (../shared/data)
need tuxpaint-stamps-default test -d /usr/share/tuxpaint/stamps # the demo set's source photographs
need python3-numpy pymod numpy                                # .npy files read back by numpy
need python3-scipy pymod scipy                                # statistics reference values
need python3-h5py pymod h5py                                  # NWB files read back by h5py
need python3-hdmf pymod hdmf                                  # NWB files validated by hdmf
need python3-zmq pymod zmq                                    # a second ZMQ peer for the bridges
need python3-torch pymod torch                                # robust-weights conversion, checked against PyTorch
need python3-torchvision pymod torchvision
need gcc-avr command -v avr-gcc                               # the rig-box firmware
need avr-libc test -f /usr/lib/avr/include/avr/io.h
need simavr command -v simavr                                 # the firmware run on a simulated ATmega328P
need libsimavr-dev test -f /usr/include/simavr/sim_avr.h
need make command -v make
need gcc command -v gcc

[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "${1:-}" != "--check" ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
  fi
  if [ "$sudo" != "none" ]; then
    echo "system-deps: installing ${missing[*]}" >&2
    $sudo apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 &&
      exec bash "$0" --check
    echo "system-deps: the install failed" >&2
    exit 1
  fi
fi
echo "system-deps: the tests need Debian packages that are missing: ${missing[*]}" >&2
echo "run, as root:  $command" >&2
exit 1
