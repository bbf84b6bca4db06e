/**
 * The shell script the agent runs in a guest restored from a warm template,
 * giving it this VM's identity where the cold path gets it from the kernel
 * command line and the rootfs copy (docs/vm-lifecycle.md, guest contract):
 *
 * - network: the `.network` file systemd-network-generator writes for `ip=`
 *   (eth0, Address, Gateway, DNS) replaced by this VM's, networkd reloaded;
 *   the NIC's MAC set to the VM's (virtio-net passes it on to QEMU);
 * - /etc/resolv.conf and the 127.0.1.1 line of /etc/hosts, as banger-resolv.service does;
 * - the hostname (kernel and /etc/hostname) and /etc/machine-id;
 * - sshd restarted, so it serves the host key installed just before.
 *
 * Arguments: mac ip prefix gateway dns hostname machine-id. Prints the
 * time each phase took (`network 1.2`…), for the step's report.
 */
export const IDENTITY_SCRIPT = `set -eu
mac=$1 ip=$2 prefix=$3 gw=$4 dns=$5 name=$6 mid=$7
t0=$(date +%s.%N)
phase() { t1=$(date +%s.%N); echo "$1 $(echo "$t1 $t0" | awk '{printf "%.1f", $1 - $2}')"; t0=$t1; }
mkdir -p /run/systemd/network
for f in /run/systemd/network/*.network; do
  if [ -e "$f" ] && grep -qx 'Name=eth0' "$f"; then rm -f "$f"; fi
done
printf '[Match]\\nName=eth0\\n\\n[Network]\\nAddress=%s/%s\\nGateway=%s\\nDNS=%s\\n' "$ip" "$prefix" "$gw" "$dns" > /run/systemd/network/70-eth0.network
# networkd must know the new file before the link goes down and up, or it re-applies the template's address.
if command -v networkctl >/dev/null 2>&1; then networkctl reload >/dev/null 2>&1 || true; fi
ip link set dev eth0 down
ip link set dev eth0 address "$mac"
ip addr flush dev eth0
ip link set dev eth0 up
ip addr replace "$ip/$prefix" dev eth0
ip route replace default via "$gw" dev eth0
if command -v networkctl >/dev/null 2>&1; then networkctl reconfigure eth0 >/dev/null 2>&1 || true; fi
# Only this VM's address may stay: a guest still answering for the template's would make ARP
# between two restored VMs fail (each sees the other's requests come from its own address).
i=0
while [ $i -lt 20 ]; do
  extra=$(ip -4 -o addr show dev eth0 | awk '{print $4}' | grep -vx "$ip/$prefix" || true)
  if [ -z "$extra" ] && [ $i -ge 2 ]; then break; fi
  for a in $extra; do ip addr del "$a" dev eth0 2>/dev/null || true; done
  ip addr replace "$ip/$prefix" dev eth0
  i=$((i+1))
  sleep 0.2
done
ip route replace default via "$gw" dev eth0
phase network
{
  echo "# Written by banger when this VM was restored from its warm template."
  echo "nameserver $dns"
} > /etc/resolv.conf.banger-tmp && mv -f /etc/resolv.conf.banger-tmp /etc/resolv.conf
hostname "$name"
printf '%s\\n' "$name" > /etc/hostname
if grep -qE '^127\\.0\\.1\\.1[[:space:]]' /etc/hosts 2>/dev/null; then
  sed -i "s/^127\\.0\\.1\\.1[[:space:]].*/127.0.1.1 $name/" /etc/hosts
else
  echo "127.0.1.1 $name" >> /etc/hosts
fi
printf '%s\\n' "$mid" > /etc/machine-id
phase names
# sshd re-reads its host keys when it re-executes itself on SIGHUP (cheaper than a restart under TCG).
if [ -s /run/sshd.pid ] && kill -HUP "$(cat /run/sshd.pid)" 2>/dev/null; then :
elif systemctl is-active -q ssh.service 2>/dev/null; then systemctl restart ssh.service
elif systemctl is-active -q sshd.service 2>/dev/null; then systemctl restart sshd.service; fi
phase sshd
`;
