"""The suite's WebSocket client reads ahead and takes whole text frames itself: the same messages
as websocket-client, pings answered, fragments joined, whatever the network's split. (Run in a
child process: the suite's modules import Locust, which patches the standard library with gevent.)"""

import json
import subprocess
import sys

from scripts import layout

PROGRAM = r'''
import json, random, sys
sys.path.insert(0, sys.argv[1])
import websocket
from realtime import ReadAheadWebSocket

ABNF = websocket.ABNF

def server_frame(data, opcode=ABNF.OPCODE_TEXT, fin=1):  # servers do not mask their frames
    return ABNF(fin, 0, 0, 0, opcode, 0, data.encode()).format()

# small, 16-bit and 64-bit lengths, non-ASCII text, a server ping between frames (answered with a
# pong by the library) and a message in two fragments
messages = [json.dumps({"type": "chunk", "content": text}) for text in ("a", "x" * 30, "é" * 200, "y" * 70_000)]
stream = b"".join(server_frame(text) for text in messages) + server_frame("hi", ABNF.OPCODE_PING)
split = json.dumps({"type": "chunk", "content": "fragmented"})
stream += server_frame(split[:9], fin=0) + server_frame(split[9:], ABNF.OPCODE_CONT)
messages.append(split)
messages.append(json.dumps({"type": "message.done"}))
stream += server_frame(messages[-1])

class Network:
    """A socket whose reads return the stream in random pieces, never more than asked."""
    def __init__(self, data, seed):
        self.data, self.rng, self.reads, self.sent = data, random.Random(seed), 0, []
    def gettimeout(self):
        return 5.0
    def send(self, data):
        self.sent.append(data)
        return len(data)
    def recv(self, bufsize):
        self.reads += 1
        piece = self.data[: min(bufsize, self.rng.randint(1, 9000))]
        self.data = self.data[len(piece):]
        return piece

results = []
for seed in range(20):
    socket = ReadAheadWebSocket(skip_utf8_validation=True)
    socket.sock, socket.connected = Network(stream, seed), True
    received = [socket.recv() for _ in messages]
    pongs = [websocket.ABNF.OPCODE_PONG == frame[0] & 0x0F for frame in socket.sock.sent]
    results.append({"same": received == messages, "reads": socket.sock.reads, "left": len(socket.sock.data),
                    "pongs": sum(pongs)})
plain = websocket.WebSocket(skip_utf8_validation=True)
plain.sock, plain.connected = Network(stream, 0), True
assert [plain.recv() for _ in messages] == messages
print(json.dumps({"read_ahead": results, "plain_reads": plain.sock.reads}))
'''


def test_read_ahead_delivers_the_same_frames_in_fewer_reads():
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(layout.SUITE)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert all(run["same"] and run["left"] == 0 and run["pongs"] == 1 for run in outcome["read_ahead"])
    # the plain client reads each frame's header and payload apart: at least two reads per frame
    assert outcome["plain_reads"] >= 2 * 7
    assert max(run["reads"] for run in outcome["read_ahead"]) < outcome["plain_reads"]


CLOSE_PROGRAM = r'''
import sys
sys.path.insert(0, sys.argv[1])
import gevent, websocket
from realtime import RealtimeChat, ReadAheadWebSocket

class KilledWhileClosing:
    """A socket on which the greenlet is stopped (Locust's GreenletExit) the moment it writes."""
    def __init__(self):
        self.closed = self._closed = False
    def gettimeout(self):
        return 5.0
    def settimeout(self, timeout):
        pass
    def send(self, data):
        raise gevent.GreenletExit()
    def shutdown(self, how):
        pass
    def close(self):
        self.closed = True

chat = RealtimeChat(session=None, timeout_s=5.0)
chat.socket = ReadAheadWebSocket(skip_utf8_validation=True)
chat.socket.sock, chat.socket.connected = KilledWhileClosing(), True
raw = chat.socket.sock
try:
    chat.close()
except gevent.GreenletExit:
    print("stopped", raw.closed, chat.socket is None)
else:
    print("went on", raw.closed, chat.socket is None)
'''


def test_a_user_stopped_while_closing_its_socket_stops():
    """websocket-client's close() swallows every exception (a bare except): a user Locust stopped
    while it closed its socket carried on with its tasks and the run never ended (seen in CI)."""
    done = subprocess.run([sys.executable, "-c", CLOSE_PROGRAM, str(layout.SUITE)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    # the stop reaches the user, and the connection is dropped all the same
    assert done.stdout.split() == ["stopped", "True", "True"], done.stdout
