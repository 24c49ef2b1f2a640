#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""An MQTT device for the broker tests, on Eclipse Paho (python3-paho-mqtt),
independent of fleetsec. It connects with a device certificate, subscribes
to TOPIC (comma-separated filters; none if "-"), and prints one line per event with a wall-clock time:

  connected RC / subscribed QOS... / message TOPIC PAYLOAD / disconnected RC

It exits after the first disconnect (with status 0), after SECONDS, or at
once if the connection is refused (status 3). Lines read on stdin are
published: "TOPIC PAYLOAD"."""
import sys
import threading
import time

import paho.mqtt.client as mqtt

host, port, ca, cert, key, client_id, topic, seconds = sys.argv[1:9]
done = threading.Event()
status = [0]


def say(*words):
    print("%.3f" % time.time(), *words, flush=True)


def on_connect(c, userdata, flags, rc):
    say("connected", rc)
    if rc != 0:
        status[0] = 3
        done.set()
        return
    if topic != "-":
        c.subscribe([(t, 1) for t in topic.split(",")])


def on_subscribe(c, userdata, mid, granted):
    say("subscribed", *granted)


def on_message(c, userdata, msg):
    say("message", msg.topic, msg.payload.decode("utf-8", "replace"))


def on_disconnect(c, userdata, rc):
    say("disconnected", rc)
    done.set()


c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311)
c.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
c.on_connect = on_connect
c.on_subscribe = on_subscribe
c.on_message = on_message
c.on_disconnect = on_disconnect
try:
    c.connect(host, int(port), keepalive=60)
except Exception as e:  # a TLS refusal
    say("refused", type(e).__name__)
    sys.exit(3)
c.loop_start()


def publisher():
    for line in sys.stdin:
        t, _, payload = line.rstrip("\n").partition(" ")
        c.publish(t, payload, qos=1)


threading.Thread(target=publisher, daemon=True).start()
done.wait(float(seconds))
c.loop_stop()
sys.exit(status[0])
