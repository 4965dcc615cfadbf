package master

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Master membership at runtime. Raft changes membership one master at a
// time (a single-server change is always safe); the new master's address
// rides in the ConfChange context and is recorded in the registry so it
// outlives log compaction.

// MembersPath is mesosd's own operator endpoint for the set of masters:
//
//	GET    /mesosd/v1/masters        {"masters":[{"id":1,"address":"h:5050","leader":true}]}
//	POST   /mesosd/v1/masters        {"id":4,"address":"h4:5050"}  → 200 once committed
//	DELETE /mesosd/v1/masters/{id}                                  → 200 once committed
//
// Mesos has no equivalent (ZooKeeper membership was configured outside it).
const MembersPath = "/mesosd/v1/masters"

// ErrMemberChangePending: Raft allows one membership change at a time.
var ErrMemberChangePending = errors.New("a membership change is already in progress")

// applyMemberChange runs for each committed ConfChange entry (Raft has
// applied it already): record it and reconnect the transport.
func (m *Master) applyMemberChange(e *raftEntry) {
	var cc raftpb.ConfChange
	if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
		m.log.Error("undecodable membership change; ignoring it", "index", e.GetIndex(), "err", err)
		return
	}
	id := cc.GetNodeId()
	removed := cc.GetType() == raftpb.ConfChangeType_ConfChangeRemoveNode
	m.reg.ApplyMemberChange(e.GetIndex(), id, string(cc.GetContext()), removed)
	if m.peers != nil {
		m.syncPeers(m.reg.MasterPeers(m.cfg.PeerAddrs))
	}
	m.version++
	// The new member must be able to catch up from a snapshot that lists it.
	m.snapshotDue = true
	if done, ok := m.pendingMember[id]; ok {
		delete(m.pendingMember, id)
		done(nil)
	}
	if removed && id == m.cfg.ID {
		m.log.Warn("this master was removed from the cluster; it no longer takes part in Raft")
	}
	m.log.Info("master membership changed", "id", id, "removed", removed, "masters", len(m.peers))
}

// syncPeers makes the peer map and the transport match want.
func (m *Master) syncPeers(want map[uint64]string) {
	for id := range m.peers {
		if _, ok := want[id]; !ok {
			delete(m.peers, id)
			if m.tr != nil && id != m.cfg.ID {
				m.tr.RemovePeer(id)
			}
		}
	}
	for id, addr := range want {
		if cur, ok := m.peers[id]; ok && cur == addr {
			continue
		}
		m.peers[id] = addr
		if m.tr != nil && id != m.cfg.ID {
			if err := m.tr.AddPeer(id, addr); err != nil {
				m.log.Warn("could not add raft peer", "id", id, "address", addr, "err", err)
			}
		}
	}
	m.updateLeaderAddr()
}

// proposeMemberChange proposes adding (addr != "") or removing a master.
func (m *Master) proposeMemberChange(id uint64, addr string, remove bool, reply func(error)) {
	if !m.leaderOn {
		reply(ErrNotLeader)
		return
	}
	if m.tr == nil {
		reply(fmt.Errorf("%w: this master runs alone (no --master_peers); membership cannot change", ErrInvalid))
		return
	}
	if len(m.pendingMember) > 0 {
		reply(ErrMemberChangePending)
		return
	}
	_, member := m.peers[id]
	switch {
	case id == 0:
		reply(fmt.Errorf("%w: master IDs are positive integers", ErrInvalid))
		return
	case remove && !member:
		reply(fmt.Errorf("%w: no master with ID %d", ErrInvalid, id))
		return
	case remove && id == m.cfg.ID:
		reply(fmt.Errorf("%w: the leader cannot remove itself; remove it from another master after it steps down, or stop it first", ErrInvalid))
		return
	case !remove && member:
		reply(fmt.Errorf("%w: master %d is already a member (at %s)", ErrInvalid, id, m.peers[id]))
		return
	case !remove && m.regRemoved(id):
		reply(fmt.Errorf("%w: master ID %d was removed before; IDs are never reused", ErrInvalid, id))
		return
	}
	cc := &raftpb.ConfChange{NodeId: proto.Uint64(id)}
	if remove {
		cc.Type = raftpb.ConfChangeType_ConfChangeRemoveNode.Enum()
	} else {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			reply(fmt.Errorf("%w: address %q: %v", ErrInvalid, addr, err))
			return
		}
		cc.Type = raftpb.ConfChangeType_ConfChangeAddNode.Enum()
		cc.Context = []byte(addr)
		// Connect first so the new master hears from us as soon as it joins.
		if err := m.tr.AddPeer(id, addr); err != nil {
			reply(fmt.Errorf("%w: %v", ErrInvalid, err))
			return
		}
	}
	if err := m.rl.ProposeConfChange(cc); err != nil {
		reply(fmt.Errorf("%w: propose membership change: %v", ErrUnavailable, err))
		return
	}
	m.pendingMember[id] = reply
	// Raft drops a conf change it cannot take (e.g. leadership moved);
	// don't leave the caller waiting forever.
	m.after(memberChangeTimeout, func() {
		if done, ok := m.pendingMember[id]; ok {
			delete(m.pendingMember, id)
			done(fmt.Errorf("%w: membership change of master %d not committed within %v; check GET %s and retry", ErrUnavailable, id, memberChangeTimeout, MembersPath))
		}
	})
}

const memberChangeTimeout = 10 * time.Second

func (m *Master) regRemoved(id uint64) bool {
	for _, r := range m.reg.Proto().GetRemovedMasters() {
		if r == id {
			return true
		}
	}
	return false
}

type memberJSON struct {
	ID      uint64 `json:"id"`
	Address string `json:"address"`
	Leader  bool   `json:"leader,omitempty"`
}

func (m *Master) handleMembers(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		var list []memberJSON
		if err := m.do(r.Context(), func() {
			for id, addr := range m.peers {
				list = append(list, memberJSON{ID: id, Address: addr, Leader: id == m.raftLead})
			}
			if len(list) == 0 {
				list = append(list, memberJSON{ID: m.cfg.ID, Address: net.JoinHostPort(m.cfg.Hostname, strconv.Itoa(m.cfg.Port)), Leader: m.leaderOn})
			}
		}); err != nil {
			m.mapError(w, r, err)
			return
		}
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
		writeJSON(w, r, map[string]any{"masters": list})
	case http.MethodPost:
		if m.redirectToLeader(w, r) {
			return
		}
		var req memberJSON
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
			http.Error(w, `Expecting a JSON body {"id":N,"address":"host:port"}: `+err.Error(), http.StatusBadRequest)
			return
		}
		m.serveMemberChange(w, r, req.ID, req.Address, false)
	case http.MethodDelete:
		if m.redirectToLeader(w, r) {
			return
		}
		id, err := strconv.ParseUint(strings.TrimPrefix(r.URL.Path, MembersPath+"/"), 10, 64)
		if err != nil {
			http.Error(w, "Expecting DELETE "+MembersPath+"/{id}", http.StatusBadRequest)
			return
		}
		m.serveMemberChange(w, r, id, "", true)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (m *Master) serveMemberChange(w http.ResponseWriter, r *http.Request, id uint64, addr string, remove bool) {
	res, err := await(r.Context(), m, func(reply func(error)) { m.proposeMemberChange(id, addr, remove, reply) })
	if err == nil {
		err = res
	}
	if errors.Is(err, ErrMemberChangePending) {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	if err != nil {
		m.mapError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
