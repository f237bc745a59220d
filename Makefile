# ivrbox: `make run` runs the box on its embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# python3-venv and python3-dev: Debian splits venv and the headers (webrtcvad compiles) out of python3.
# libspeexdsp1: the line echo canceller; sox with libsox-fmt-all: the simulator's GSM and AMR-NB codecs.
# chromium and chromium-driver: the web console's tests run in a real headless browser.
APT_PACKAGES := python3-venv python3-dev espeak-ng sox libsox-fmt-all portaudio19-dev pulseaudio pulseaudio-utils \
                libasound2-plugins multimon-ng libspandsp-dev libspeexdsp1 gcc systemd mosquitto \
                chromium chromium-driver openssl

.PHONY: run test bench apt venv install clean model

apt: .stamp-apt
.stamp-apt: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@touch $@

venv: $(BIN)/ivrbox
$(BIN)/ivrbox: pyproject.toml .stamp-apt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -c 'from firmware_app.numbers import ensure_geodata; ensure_geodata()'
	@touch $@

run: venv
	$(BIN)/ivrbox run $(ARGS)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m bench

# A non-editable install in /opt: the unit's ProtectHome=yes hides checkouts under /home.
install: apt
	$(SUDO) $(PYTHON) -m venv /opt/ivrbox/venv
	$(SUDO) /opt/ivrbox/venv/bin/pip install -q --upgrade pip
	$(SUDO) /opt/ivrbox/venv/bin/pip install -q .
	$(SUDO) install -D -m 644 systemd/ivrbox.sysusers /usr/lib/sysusers.d/ivrbox.conf
	$(SUDO) systemd-sysusers /usr/lib/sysusers.d/ivrbox.conf
	$(SUDO) install -D -m 644 systemd/ivrbox.service /etc/systemd/system/ivrbox.service
	$(SUDO) install -d -m 755 /etc/ivrbox
	[ -e /etc/ivrbox/config.toml ] || $(SUDO) install -m 640 -o root -g ivrbox firmware_app/default.toml /etc/ivrbox/config.toml
	$(SUDO) systemctl daemon-reload
	$(SUDO) systemctl enable ivrbox.service
	$(SUDO) systemctl restart ivrbox.service

# make model LANG=en-US: fetch and unpack the speech model for a language with the configured
# engine (ENGINE=vosk); each engine owns its model table and download (needs the internet).
MODEL_DIR ?= /var/lib/ivrbox/models
ENGINE ?= vosk
model: venv
	$(SUDO) $(BIN)/python -m firmware_app.listen.models --engine '$(ENGINE)' '$(LANG)' $(MODEL_DIR)

clean:
	rm -rf $(VENV) .stamp-apt
