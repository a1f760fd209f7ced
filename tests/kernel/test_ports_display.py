"""Published ports in the kernel's displays: the handle ``%oci run -d -p`` returns
(links to the ports), ``%oci ps`` and the ContainerTable widget (podman's PORTS text).

They show the engine's views (``ps_ports``/``ps_ports_text``), nothing computed anew.
"""

from __future__ import annotations

from typing import Any

from helpers import free_port, http_get, needs_network
from kernel_helpers import Kernel

from ipy_oci.kernel.handles import port_url, ports_html


def test_port_urls_and_html() -> None:
    assert port_url("", 8080) == "http://127.0.0.1:8080/"
    assert port_url("0.0.0.0", 8080) == "http://127.0.0.1:8080/"
    assert port_url("127.0.0.1", 8080) == "http://127.0.0.1:8080/"
    assert port_url("192.0.2.7", 81) == "http://192.0.2.7:81/"
    assert port_url("fd00::1", 81) == "http://[fd00::1]:81/"
    html = ports_html([
        {"host_ip": "", "container_port": 80, "host_port": 8080, "range": 1,
         "protocol": "tcp"},
        {"host_ip": "127.0.0.1", "container_port": 81, "host_port": 9001, "range": 2,
         "protocol": "tcp"},
        {"host_ip": "", "container_port": 53, "host_port": 5353, "range": 1,
         "protocol": "udp"}])
    assert "0.0.0.0:8080-&gt;80/tcp" in html
    assert 'href="http://127.0.0.1:8080/"' in html
    assert "127.0.0.1:9001-9002-&gt;81-82/tcp" in html
    assert 'href="http://127.0.0.1:9001/"' in html and 'href="http://127.0.0.1:9002/"' in html
    assert "0.0.0.0:5353-&gt;53/udp" in html and "5353/" not in html  # no link for UDP
    assert ports_html([]) == ""


@needs_network
def test_run_handle_ps_and_table_show_published_ports(oci: Any, kernel: Kernel) -> None:
    any_port, lo_port, other_port = free_port(), free_port(), free_port()
    cell = kernel.ok(f"h = %oci run -d --name web -p {any_port}:80 "
                     f"-p 127.0.0.1:{lo_port}:80 -p 127.0.0.2:{other_port}:80 "
                     "busybox httpd -f -p 80 -h /etc\nh")
    html = cell.result["text/html"]
    assert f"0.0.0.0:{any_port}-&gt;80/tcp" in html
    assert f'href="http://127.0.0.1:{any_port}/"' in html
    assert f"127.0.0.1:{lo_port}-&gt;80/tcp" in html
    assert f'href="http://127.0.0.1:{lo_port}/"' in html
    assert f"127.0.0.2:{other_port}-&gt;80/tcp" in html
    assert f'href="http://127.0.0.2:{other_port}/"' in html
    # The links lead to the container: busybox httpd serves its /etc.
    short_id = kernel.value("h.id[:12]")
    assert http_get(f"http://127.0.0.1:{any_port}/hostname").strip() == short_id
    assert http_get(f"http://127.0.0.1:{lo_port}/hostname").strip() == short_id
    # The engine's view: ps --format json's Ports rows.
    ports = kernel.value("h.ports")
    assert {(p["host_ip"], p["host_port"], p["container_port"]) for p in ports} == {
        ("", any_port, 80), ("127.0.0.1", lo_port, 80), ("127.0.0.2", other_port, 80)}

    # %oci ps: a PORTS column, with the links.
    html = kernel.ok("%oci ps").result["text/html"]
    assert "<th" in html and "PORTS" in html
    assert f'href="http://127.0.0.1:{lo_port}/"' in html

    # The ContainerTable widget: podman's PORTS text, one mapping a line.
    kernel.ok("t = %oci ps --widget\nt.refresh()")
    text = kernel.value("[r.ports.value for r in t._rows.values()]")
    assert text == [f"<code>0.0.0.0:{any_port}-&gt;80/tcp</code><br>"
                    f"<code>127.0.0.1:{lo_port}-&gt;80/tcp</code><br>"
                    f"<code>127.0.0.2:{other_port}-&gt;80/tcp</code>"]
    kernel.ok("t.close()\nh.remove(force=True)")


@needs_network
def test_handle_without_ports_has_no_ports_row(oci: Any, kernel: Kernel) -> None:
    html = kernel.ok("h = %oci run -d --name quiet busybox sleep 1000\nh").result["text/html"]
    assert ">ports<" not in html
    kernel.ok("h.remove(force=True)")
