package docker

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMinorityLeaderPartition: three masters in containers.
//
//  1. elect: exactly one leader; the others redirect to it.
//  2. minority leader steps down: the leader is cut off the raft network
//     (docker network disconnect); the other two elect a new leader; the old
//     one steps down (CheckQuorum: master/elected=0, /master/redirect 503)
//     and cannot commit (a SUBSCRIBE sent to it during the partition never
//     gets SUBSCRIBED, and that framework never shows up later).
//  3. healed node catches up: the majority commits frameworks while the old
//     leader is away; after the heal the old leader follows the current
//     leader without disrupting it (PreVote); then the never-partitioned
//     follower is stopped and one more framework is committed, which needs
//     the healed node's vote; then the leader is killed -9 and the stopped
//     follower restarted: only the healed node has the newest log, so it is
//     the one elected, and its /master/state lists every committed framework.
//  4. transport counters: the healed node received Raft traffic again, and
//     shows a reconnect to the restarted follower.
func TestMinorityLeaderPartition(t *testing.T) {
	c := newCluster(t, 3)
	var tm timings
	defer func() {
		if len(tm.lines) > 0 {
			t.Logf("TIMINGS: %s", strings.Join(tm.lines, "; "))
		}
	}()

	// ---- 1. elect ----
	start := time.Now()
	c.start(c.masters...)
	l1, err := waitLeader(c.masters, 20*time.Second)
	if err != nil {
		t.Fatalf("initial election: %v", err)
	}
	tm.add(t, "initial election (containers started -> one leader agreed by all)", time.Since(start))
	t.Logf("leader %s; followers redirect to //%s", l1, l1.raftAddr())

	// A framework committed before the partition, subscribed through a
	// follower's 307 (a scheduler given any master finds the leader).
	f0 := except(c.masters, l1)[0]
	fw0 := subscribe(f0.url(), "fw-before", 10*time.Second, true)
	if fw0.frameworkID == "" {
		t.Fatalf("SUBSCRIBE via follower %s (following the 307): %v", f0, fw0)
	}

	// ---- 2. the minority leader steps down and cannot commit ----
	old := l1
	majority := except(c.masters, old)
	c.partition(old)
	tPart := time.Now()
	t.Logf("partitioned %s off %s", old, c.raftNet)

	// A write sent to the old leader right away, while it may still believe
	// it leads: it must never be acknowledged.
	minority := make(chan subResult, 1)
	go func() {
		s := time.Now()
		r := subscribe(old.url(), "fw-minority", 8*time.Second, false)
		r.elapsed = time.Since(s)
		minority <- r
	}()

	l2, err := waitLeader(majority, 15*time.Second)
	if err != nil {
		t.Fatalf("majority election after partitioning %s: %v", old, err)
	}
	tm.add(t, "partition -> new leader in the majority", time.Since(tPart))
	t.Logf("new leader %s", l2)

	var stepDown view
	if !waitFor(10*time.Second, func() bool {
		stepDown = look(old)
		return stepDown.err == nil && stepDown.elected == 0 && stepDown.code == http.StatusServiceUnavailable
	}) {
		// Tell a leaky partition from a master that keeps leading.
		m1, _ := metrics(old)
		time.Sleep(time.Second)
		m2, _ := metrics(old)
		for _, p := range majority {
			t.Logf("%s from peer %d: received %v -> %v over 1s", old, p.id,
				peerCounters(m1, p.id)["received"], peerCounters(m2, p.id)["received"])
		}
		t.Fatalf("partitioned old leader %s did not step down within 10s (want master/elected=0 and /master/redirect 503): %s", old, stepDown)
	}
	tm.add(t, "partition -> old leader steps down (CheckQuorum)", time.Since(tPart))

	res := <-minority
	t.Logf("SUBSCRIBE sent to the old leader as it was partitioned: %s after %v", res, res.elapsed.Round(time.Millisecond))
	if res.frameworkID != "" {
		t.Errorf("split brain: partitioned old leader %s acknowledged SUBSCRIBE with framework %s", old, res.frameworkID)
	}
	// Now that it has stepped down it answers at once, without a leader.
	if r := subscribe(old.url(), "fw-minority-2", 5*time.Second, false); r.frameworkID != "" || r.code != http.StatusServiceUnavailable {
		t.Errorf("SUBSCRIBE to stepped-down %s during the partition: %s, want 503 (no leader known)", old, r)
	}
	if _, code, err := state(old); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("/master/state on stepped-down %s during the partition: status %d err %v, want 503", old, code, err)
	}

	// ---- 3. the majority commits; the healed node catches up ----
	fwA := subscribe(l2.url(), "fw-during-a", 10*time.Second, false)
	if fwA.frameworkID == "" {
		t.Fatalf("SUBSCRIBE to new leader %s: %v", l2, fwA)
	}
	other := except(majority, l2)[0]
	fwB := subscribe(other.url(), "fw-during-b", 10*time.Second, true)
	if fwB.frameworkID == "" {
		t.Fatalf("SUBSCRIBE via follower %s (following the 307): %v", other, fwB)
	}
	if st, code, err := state(l2); err != nil || st == nil {
		t.Fatalf("/master/state on %s: status %d err %v", l2, code, err)
	} else {
		requireFrameworks(t, l2, st, fw0.frameworkID, fwA.frameworkID, fwB.frameworkID)
	}

	before, err := metrics(old)
	if err != nil {
		t.Fatal(err)
	}
	c.heal(old)
	tHeal := time.Now()
	t.Logf("healed %s", old)
	var rejoin view
	if !waitFor(30*time.Second, func() bool {
		rejoin = look(old)
		return rejoin.err == nil && rejoin.elected == 0 && rejoin.code == http.StatusTemporaryRedirect && rejoin.location == "//"+l2.raftAddr()
	}) {
		t.Fatalf("healed %s did not follow leader %s within 30s: %s", old, l2, rejoin)
	}
	tm.add(t, "heal -> old leader follows the current leader", time.Since(tHeal))
	// PreVote: the rejoining node (which could not pre-vote its way to a
	// higher term while cut off) must not have deposed the leader.
	if l, err := waitLeader(c.masters, 5*time.Second); err != nil {
		t.Errorf("after the heal: %v", err)
	} else if l != l2 {
		t.Errorf("after the heal the leader moved from %s to %s: the healed node disrupted the cluster (PreVote?)", l2, l)
	}
	// Traffic on the leader's old stream resumes only when TCP retransmits
	// (or, after a partition longer than the transport's TCP_USER_TIMEOUT,
	// when the leader redials): poll for it, bounded.
	pb := peerCounters(before, l2.id)
	var pa map[string]float64
	for deadline := time.Now().Add(30 * time.Second); ; {
		after, err := metrics(old)
		if err != nil {
			t.Fatal(err)
		}
		pa = peerCounters(after, l2.id)
		if pa["received"] > pb["received"] || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	tm.add(t, "heal -> Raft traffic from the leader again", time.Since(tHeal))
	t.Logf("%s transport to/from leader %d across the heal: received %v -> %v, sent %v -> %v, reconnects %v -> %v, dial_failures %v -> %v, connected %v",
		old, l2.id, pb["received"], pa["received"], pb["sent"], pa["sent"], pb["reconnects"], pa["reconnects"], pb["dial_failures"], pa["dial_failures"], pa["connected"])
	if pa["received"] <= pb["received"] {
		t.Errorf("%s received no Raft traffic from leader %d after the heal (%v -> %v)", old, l2.id, pb["received"], pa["received"])
	}

	// Stop the follower that was never partitioned: from now on every commit
	// needs the healed node's acknowledgement.
	c.kill(other)
	t.Logf("killed follower %s", other)
	fwC := subscribe(l2.url(), "fw-after-heal", 15*time.Second, false)
	if fwC.frameworkID == "" {
		t.Fatalf("SUBSCRIBE to %s with only the healed %s as its quorum: %v", l2, old, fwC)
	}

	// Kill the leader, bring the stale follower back: the healed node holds
	// the newest log, so the stale one cannot win and the healed one leads.
	c.kill(l2)
	tKill := time.Now()
	c.start(other)
	t.Logf("killed leader %s, restarted %s", l2, other)
	pair := []*master{old, other}
	l3, err := waitLeader(pair, 20*time.Second)
	if err != nil {
		t.Fatalf("election after killing %s: %v", l2, err)
	}
	tm.add(t, "kill -9 leader (+ restart of a stale follower) -> new leader", time.Since(tKill))
	if l3 != old {
		t.Errorf("%s was elected, but only the healed %s has fw-after-heal in its log (Raft's up-to-date check)", l3, old)
	}
	var st *masterState
	if !waitFor(10*time.Second, func() bool {
		s, code, err := state(l3)
		st = s
		return err == nil && code == http.StatusOK && s != nil
	}) {
		t.Fatalf("/master/state on new leader %s did not answer 200", l3)
	}
	requireFrameworks(t, l3, st, fw0.frameworkID, fwA.frameworkID, fwB.frameworkID, fwC.frameworkID)
	for _, list := range [][]frameworkEntry{st.Frameworks, st.CompletedFrameworks} {
		for _, f := range list {
			if strings.HasPrefix(f.Name, "fw-minority") || (res.frameworkID != "" && f.ID == res.frameworkID) {
				t.Errorf("framework %s (%s) sent to the partitioned old leader is in the registry of %s", f.Name, f.ID, l3)
			}
		}
	}

	// ---- 4. transport counters after the restart of a peer ----
	var pc map[string]float64
	if !waitFor(10*time.Second, func() bool {
		met, err := metrics(old)
		if err != nil {
			return false
		}
		pc = peerCounters(met, other.id)
		return pc["connected"] == 1 && pc["reconnects"] >= 1
	}) {
		t.Errorf("%s transport to the restarted %s: want connected=1 and reconnects>=1, got %v", old, other, pc)
	} else {
		t.Logf("%s transport to restarted %s: reconnects=%v dial_failures=%v connected=%v", old, other, pc["reconnects"], pc["dial_failures"], pc["connected"])
	}

	// The killed leader comes back as a follower of the new one.
	c.start(l2)
	if l, err := waitLeader(c.masters, 20*time.Second); err != nil {
		t.Errorf("after restarting %s: %v", l2, err)
	} else if l != l3 {
		t.Errorf("after restarting %s the leader moved from %s to %s", l2, l3, l)
	}
}

// requireFrameworks checks that every ID is listed in st.frameworks.
func requireFrameworks(t *testing.T, m *master, st *masterState, ids ...string) {
	t.Helper()
	have := map[string]frameworkEntry{}
	for _, f := range st.Frameworks {
		have[f.ID] = f
	}
	for _, id := range ids {
		f, ok := have[id]
		if !ok {
			t.Errorf("%s /master/state: framework %s missing (frameworks: %+v, completed: %+v)", m, id, st.Frameworks, st.CompletedFrameworks)
			continue
		}
		t.Logf("%s lists framework %s %q active=%v recovered=%v", m, f.ID, f.Name, f.Active, f.Recovered)
	}
}

// TestPausedLeader (reliability matrix row 2): the leader is frozen with
// docker pause past the election timeout while a SUBSCRIBE waits in its
// socket; the other two elect a new leader and commit; on docker unpause the
// old leader follows the new one, and the SUBSCRIBE it had queued is never
// acknowledged (an entry it proposes in its old term cannot commit).
func TestPausedLeader(t *testing.T) {
	c := newCluster(t, 3)
	var tm timings
	defer func() {
		if len(tm.lines) > 0 {
			t.Logf("TIMINGS: %s", strings.Join(tm.lines, "; "))
		}
	}()
	start := time.Now()
	c.start(c.masters...)
	old, err := waitLeader(c.masters, 20*time.Second)
	if err != nil {
		t.Fatalf("initial election: %v", err)
	}
	tm.add(t, "initial election", time.Since(start))

	c.pause(old)
	tPause := time.Now()
	t.Logf("paused leader %s", old)
	queued := make(chan subResult, 1)
	go func() {
		s := time.Now()
		r := subscribe(old.url(), "fw-paused", 20*time.Second, false)
		r.elapsed = time.Since(s)
		queued <- r
	}()
	majority := except(c.masters, old)
	l2, err := waitLeader(majority, 15*time.Second)
	if err != nil {
		t.Fatalf("election while %s is paused: %v", old, err)
	}
	tm.add(t, "pause -> new leader in the majority", time.Since(tPause))
	fwA := subscribe(l2.url(), "fw-during-pause", 10*time.Second, false)
	if fwA.frameworkID == "" {
		t.Fatalf("SUBSCRIBE to new leader %s: %v", l2, fwA)
	}
	// Keep it frozen well past an election timeout before thawing.
	if d := 3*time.Second - time.Since(tPause); d > 0 {
		time.Sleep(d)
	}

	c.resume(old)
	tResume := time.Now()
	t.Logf("unpaused %s after %v", old, time.Since(tPause).Round(time.Millisecond))
	var v view
	if !waitFor(15*time.Second, func() bool {
		v = look(old)
		return v.err == nil && v.elected == 0 && v.code == http.StatusTemporaryRedirect && v.location == "//"+l2.raftAddr()
	}) {
		t.Fatalf("unpaused old leader %s did not follow %s within 15s: %s", old, l2, v)
	}
	tm.add(t, "unpause -> old leader follows the new leader", time.Since(tResume))

	res := <-queued
	t.Logf("SUBSCRIBE queued at the paused leader: %s after %v", res, res.elapsed.Round(time.Millisecond))
	if res.frameworkID != "" {
		t.Errorf("split brain: the old leader %s acknowledged the SUBSCRIBE queued while it was paused (framework %s)", old, res.frameworkID)
	} else if res.err == nil && res.code != http.StatusTemporaryRedirect && res.code != http.StatusServiceUnavailable {
		t.Errorf("SUBSCRIBE queued at the paused leader: %s, want 307 or 503", res)
	}

	l, err := waitLeader(c.masters, 10*time.Second)
	if err != nil {
		t.Fatalf("after unpause: %v", err)
	}
	if l != l2 {
		t.Errorf("after unpause the leader moved from %s to %s", l2, l)
	}
	st, code, err := state(l)
	if err != nil || st == nil {
		t.Fatalf("/master/state on %s: status %d err %v", l, code, err)
	}
	requireFrameworks(t, l, st, fwA.frameworkID)
	for _, list := range [][]frameworkEntry{st.Frameworks, st.CompletedFrameworks} {
		for _, f := range list {
			if f.Name == "fw-paused" {
				t.Errorf("framework %s sent to the paused old leader is in the registry of %s", f.ID, l)
			}
		}
	}
}
