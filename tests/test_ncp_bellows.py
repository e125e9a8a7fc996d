"""Unmodified bellows (zigpy's EZSP radio library) over the emulated NCP, through a TCP proxy
that can garble the serial bytes both ways: formation, an install-code join of a virtual
device, ZCL both ways, line noise, and a dropped link after which the host resumes the same
network."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime

import bellows.zigbee.application as bellows_app
import zigpy.config as zc
import zigpy.endpoint
import zigpy.types as zt
import zigpy.zdo.types as zdo_t

from boards.simulator import Simulator
from han.cbke.mmo import install_code_link_key
from han.crc import crc16_x25
from han.ncp import ClockBridge, NcpServer
from han.radio import Endpoint, JoinStatus, Medium, Node, UdpParticipant
from han.zcl.server import ClusterServer

DEVICE = 0x00124B0000000111
HA_PROFILE = 0x0104      # zigpy's Device parses HA/ZLL frames; SE (0x0109) it leaves alone
METERING = 0x0702
CODE = bytes((2 * 37 + i * 11) & 0xFF for i in range(16))
INSTALL_CODE = CODE + crc16_x25(CODE).to_bytes(2, "little")


class Garbler:
    """A TCP proxy between host and NCP; while `rate` > 0 it corrupts that share of the
    chunks each way (one byte flipped, or line noise before the chunk), seeded."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.rate = 0.0
        self.random = random.Random(7)
        self.garbled = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _client(self, host_r: asyncio.StreamReader, host_w: asyncio.StreamWriter) -> None:
        ncp_r, ncp_w = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers += [host_w, ncp_w]
        await asyncio.gather(self._pump(host_r, ncp_w), self._pump(ncp_r, host_w),
                             return_exceptions=True)
        for writer in (host_w, ncp_w):
            writer.close()

    def _garble(self, chunk: bytes) -> bytes:
        if self.rate <= 0 or self.random.random() >= self.rate:
            return chunk
        self.garbled += 1
        if self.random.random() < 0.5:
            return bytes([0x31, 0x5A, 0x0F]) + chunk               # noise before the frame
        data = bytearray(chunk)
        at = self.random.randrange(len(data))
        if data[at] != 0x7E:
            data[at] ^= 0x04
        return bytes(data)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(4096):
            writer.write(self._garble(chunk))
            await writer.drain()

    def drop(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def close(self) -> None:
        self.drop()
        self.server.close()
        await self.server.wait_closed()


def _config(port: int) -> dict:
    return {zc.CONF_DEVICE: {zc.CONF_DEVICE_PATH: f"socket://127.0.0.1:{port}"},
            zc.CONF_DATABASE: None, zc.CONF_NWK: {zc.CONF_NWK_CHANNEL: 11},
            "use_thread": False, zc.CONF_STARTUP_ENERGY_SCAN: False,
            zc.CONF_TOPO_SCAN_ENABLED: False, zc.CONF_NWK_BACKUP_ENABLED: False}


def _metering_client(app, nwk: int):
    """The joined device as zigpy would know it after its interview (han.radio devices do
    not answer ZDO descriptor requests): one HA endpoint with a Metering server."""
    ieee = zt.EUI64(DEVICE.to_bytes(8, "little"))
    device = app.devices.get(ieee) or app.add_device(ieee, nwk)
    device.node_desc = zdo_t.NodeDescriptor(
        logical_type=zdo_t.LogicalType.EndDevice, frequency_band=8, mac_capability_flags=0x8C,
        manufacturer_code=0x1234, maximum_buffer_size=82, maximum_incoming_transfer_size=128,
        server_mask=0, maximum_outgoing_transfer_size=128, descriptor_capability_field=0)
    endpoint = device.endpoints.get(1) or device.add_endpoint(1)
    endpoint.profile_id = HA_PROFILE
    endpoint.status = zigpy.endpoint.Status.ZDO_INIT
    return endpoint.in_clusters.get(METERING) or endpoint.add_input_cluster(METERING)


async def _scenario() -> None:
    sim = Simulator(datetime.now(UTC), keep_trace=False)
    server = NcpServer(sim)
    await server.start()
    _, port = await server.listen("127.0.0.1", 0)
    proxy = Garbler(port)
    app = None
    try:
        app = await bellows_app.ControllerApplication.new(_config(await proxy.start()),
                                                          auto_form=True)
        pan, epan = app.state.network_info.pan_id, app.state.network_info.extended_pan_id
        assert server.ncp.up and server.ncp.node.pan_id == pan
        assert app.state.node_info.ieee == zt.EUI64(server.ncp.eui64.to_bytes(8, "little"))
        received: list[zt.ZigbeePacket] = []
        original = app.packet_received

        def heard(packet: zt.ZigbeePacket) -> None:
            received.append(packet)
            original(packet)
        app.packet_received = heard

        # install-code join: the stick's trust centre uses the key bellows installs
        await app.permit_with_link_key(zt.EUI64(DEVICE.to_bytes(8, "little")),
                                       zt.KeyData(install_code_link_key(INSTALL_CODE)), 60)
        store = {0x0000: 123456}
        metering = ClusterServer(METERING, store)
        device = Node(DEVICE, server.medium, sim, channel=11, name="cad")
        device.add_endpoint(Endpoint(1, HA_PROFILE, server_clusters={
            METERING: lambda ind: metering.handle(ind.payload)}))
        joined = asyncio.get_running_loop().create_future()
        server.clock.catch_up()
        device.join(install_code_link_key(INSTALL_CODE), joined.set_result)
        server.clock.wake()
        assert await asyncio.wait_for(joined, 10) is JoinStatus.SUCCESS
        for _ in range(50):
            if zt.EUI64(DEVICE.to_bytes(8, "little")) in app.devices:
                break
            await asyncio.sleep(0.02)
        nwk = device.short_address
        assert app.get_device(ieee=zt.EUI64(DEVICE.to_bytes(8, "little"))).nwk == nwk
        assert DEVICE in server.ncp.trust_centre.device_log
        backup = await app.backups.create_backup(load_devices=True)     # what bellows reads
        ieee = zt.EUI64(DEVICE.to_bytes(8, "little"))
        assert ieee in backup.network_info.children
        assert backup.network_info.nwk_addresses[ieee] == nwk
        assert bytes(backup.network_info.network_key.key) == server.ncp.node.network_key

        # ZCL: bellows reads the device; the device reports to bellows
        cluster = _metering_client(app, nwk)
        assert await cluster.read_attributes([0x0000]) == ({0x0000: 123456}, {})
        report = bytes([0x18, 0x42, 0x0A, 0x00, 0x00, 0x25]) + (777).to_bytes(6, "little")
        server.clock.catch_up()
        device.send_data(0x0000, 1, METERING, report, source_endpoint=1,
                         profile_id=HA_PROFILE)
        server.clock.wake()
        for _ in range(50):
            if any(bytes(p.data.serialize()) == report for p in received):
                break
            await asyncio.sleep(0.02)
        packet = next(p for p in received if bytes(p.data.serialize()) == report)
        assert (packet.src.address, packet.cluster_id) == (nwk, METERING)
        assert zt.TransmitOptions.APS_Encryption in packet.tx_options
        long = bytes([0x18, 0x43, 0x0A]) + bytes(range(200))   # APS-fragmented over the air
        server.clock.catch_up()
        device.send_data(0x0000, 1, METERING, long, source_endpoint=1, profile_id=HA_PROFILE)
        server.clock.wake()
        for _ in range(100):
            if any(bytes(p.data.serialize()) == long for p in received):
                break
            await asyncio.sleep(0.02)
        assert any(bytes(p.data.serialize()) == long for p in received)   # bellows reassembled

        # line noise both ways: every exchange still completes
        proxy.rate = 0.15
        for n in range(25):
            store[0x0000] = 1000 + n
            assert (await app._ezsp.echo(data=bytes([n]) * 20)) == [bytes([n]) * 20]
            if n % 5 == 0:
                assert await cluster.read_attributes([0x0000]) == ({0x0000: 1000 + n}, {})
        proxy.rate = 0.0
        assert proxy.garbled >= 5
        link = next(iter(server._current.session.ash.stats.items()), None)
        assert link is not None
        stats = server._current.session.ash.stats
        assert stats["rx_bad_frame"] + stats["retransmitted"] > 0

        # the link drops; a host reconnects and finds the same network and device
        proxy.drop()
        await asyncio.sleep(0.2)
        await app.shutdown()
        app = await bellows_app.ControllerApplication.new(_config(port), auto_form=False)
        assert (app.state.network_info.pan_id, app.state.network_info.extended_pan_id) == (
            pan, epan)
        store[0x0000] = 424242
        cluster = _metering_client(app, nwk)
        assert await cluster.read_attributes([0x0000]) == ({0x0000: 424242}, {})
    finally:
        if app is not None:
            await app.shutdown()
        await proxy.close()
        await server.close()


def test_bellows_forms_joins_talks_and_recovers(caplog):
    caplog.set_level(logging.WARNING)
    asyncio.run(asyncio.wait_for(_scenario(), 90))


async def _udp_scenario() -> None:
    """The stick's radio on the loopback UDP medium, the device on another medium (as in
    another process) that knows only the port; the host on the stick's pty."""
    sim = Simulator(datetime.now(UTC), keep_trace=False)
    server = NcpServer(sim)
    await server.start()
    udp_port = server.use_udp_medium(0)
    path = server.open_pty()
    other_sim = Simulator(datetime.now(UTC), keep_trace=False)
    other = Medium(other_sim)
    participant = UdpParticipant(other, peers=[udp_port])
    other_clock = ClockBridge(other_sim)
    other_clock.start()
    loop = asyncio.get_running_loop()

    def datagrams() -> None:
        other_clock.catch_up()
        if participant.poll():
            other_clock.wake()
    loop.add_reader(participant.socket, datagrams)
    config = _config(0)
    config[zc.CONF_DEVICE][zc.CONF_DEVICE_PATH] = path
    app = None
    try:
        app = await bellows_app.ControllerApplication.new(config, auto_form=True)
        await app.permit_with_link_key(zt.EUI64(DEVICE.to_bytes(8, "little")),
                                       zt.KeyData(install_code_link_key(INSTALL_CODE)), 60)
        metering = ClusterServer(METERING, {0x0000: 99})
        device = Node(DEVICE, other, other_sim, channel=11, name="cad")
        device.add_endpoint(Endpoint(1, HA_PROFILE, server_clusters={
            METERING: lambda ind: metering.handle(ind.payload)}))
        # Two machines paced by one loaded wall clock: a MAC ack can miss its few
        # milliseconds, so the device retries the join as a real one would.
        for _ in range(5):
            joined = loop.create_future()
            other_clock.catch_up()
            device.join(install_code_link_key(INSTALL_CODE), joined.set_result)
            other_clock.wake()
            if await asyncio.wait_for(joined, 10) is JoinStatus.SUCCESS:
                break
        assert device.joined
        assert participant.port in server.participant.peers      # learnt from its datagrams
        cluster = _metering_client(app, device.short_address)
        assert await cluster.read_attributes([0x0000]) == ({0x0000: 99}, {})
    finally:
        if app is not None:
            await app.shutdown()
        loop.remove_reader(participant.socket)
        participant.close()
        await other_clock.stop()
        await server.close()


def test_devices_on_the_udp_medium_join_through_the_pty_served_stick():
    asyncio.run(asyncio.wait_for(_udp_scenario(), 60))
