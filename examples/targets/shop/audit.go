package main

import (
	"context"
	"net/http"
	"time"
)

// Audit compares the shop's orders with payment's charges: every accepted
// order must end up charged exactly once, and no charge may exist without
// its order.
type Audit struct {
	// Orders is the number of orders saved; Paid, Pending, Declined and
	// InFlight split them by status. InFlight orders are being charged
	// right now.
	Orders   int `json:"orders"`
	Paid     int `json:"paid"`
	Pending  int `json:"pending"`
	Declined int `json:"declined"`
	InFlight int `json:"in_flight"`
	// Stale counts in-flight orders older than the outbox grace: their
	// payment call ended without settling them.
	Stale int `json:"stale"`
	// Charges is the number of charges payment holds.
	Charges int `json:"charges"`
	// ChargedOnce counts paid orders with exactly one charge; Missing paid
	// orders without one; DoubleCharged orders with several.
	ChargedOnce   int `json:"charged_once"`
	Missing       int `json:"missing"`
	DoubleCharged int `json:"double_charged"`
	// Orphans are charges whose order the shop does not have.
	Orphans int `json:"orphans"`
	// DeclinedCharged counts declined orders with a charge: their client
	// was told payment refused them.
	DeclinedCharged int `json:"declined_charged"`
	// ExactlyOnce holds when nothing is pending, stale, missing, doubled,
	// orphaned or charged after a decline.
	ExactlyOnce bool `json:"exactly_once"`
}

type chargeList struct {
	Charges []struct {
		Order string `json:"order"`
	} `json:"charges"`
}

// runAudit reads the charges, then the orders, then the charges again: a
// charge listed first belongs to an order already saved (orders are saved
// before they are charged), and a paid order's charge is in the second
// list. Traffic may go on meanwhile.
func (s *shop) runAudit(ctx context.Context) (Audit, error) {
	var before, after chargeList
	if err := fetchJSON(ctx, s.paymentURL+"/charges", &before); err != nil {
		return Audit{}, err
	}
	orders, err := s.st.orders(ctx, "")
	if err != nil {
		return Audit{}, err
	}
	if err := fetchJSON(ctx, s.paymentURL+"/charges", &after); err != nil {
		return Audit{}, err
	}
	a := Audit{Orders: len(orders), Charges: len(after.Charges)}
	perOrder := map[string]int{}
	for _, c := range after.Charges {
		perOrder[c.Order]++
	}
	known := map[string]bool{}
	for _, o := range orders {
		known[o.ID] = true
		n := perOrder[o.ID]
		if n > 1 {
			a.DoubleCharged++
		}
		switch o.Status {
		case StatusPaid:
			a.Paid++
			switch n {
			case 0:
				a.Missing++
			case 1:
				a.ChargedOnce++
			}
		case StatusPending:
			a.Pending++
		case StatusDeclined:
			a.Declined++
			if n > 0 {
				a.DeclinedCharged++
			}
		default:
			a.InFlight++
			if time.Since(o.Created) > s.grace {
				a.Stale++
			}
		}
	}
	for _, c := range before.Charges {
		if !known[c.Order] {
			a.Orphans++
		}
	}
	a.ExactlyOnce = a.Pending == 0 && a.Stale == 0 && a.Missing == 0 && a.DoubleCharged == 0 && a.Orphans == 0 && a.DeclinedCharged == 0
	return a, nil
}

func (s *shop) audit(w http.ResponseWriter, r *http.Request) {
	a, err := s.runAudit(r.Context())
	if err != nil {
		http.Error(w, "audit: "+err.Error(), http.StatusBadGateway)
		return
	}
	writeJSON(w, http.StatusOK, a)
}
