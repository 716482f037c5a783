# controller_reference.py — a plain-Python transcription of torchdiffeq's adaptive RK loop
# (rk_common.RKAdaptiveStepsizeODESolver._adaptive_step, misc._select_initial_step,
# misc._optimal_step_size, misc._compute_error_ratio, _rms_norm) for dopri5.
# Reproduces the step counts test_steps.c expects: python3 controller_reference.py
# (torchdiffeq does not clip the last step onto the end time; nodec does,
# which changes at most the last step).
import math
A=[[],[1/5],[3/40,9/40],[44/45,-56/15,32/9],[19372/6561,-25360/2187,64448/6561,-212/729],
   [9017/3168,-355/33,46732/5247,49/176,-5103/18656],[35/384,0,500/1113,125/192,-2187/6784,11/84]]
C=[0,1/5,3/10,4/5,8/9,1,1]
E=[35/384-1951/21600,0,500/1113-22642/50085,125/192-451/720,-2187/6784- -12231/42400,11/84-649/6300,-1/60]
def f(t,z):
    x,y=z[0]**3,z[1]**3
    return [-0.1*x-2.0*y, 2.0*x-0.1*y]
def rms(v): return math.sqrt(sum(x*x for x in v)/len(v))
rtol,atol=1e-7,1e-9
def init_step(t0,y0,f0,order):
    scale=[atol+abs(y)*rtol for y in y0]
    d0=rms([y/s for y,s in zip(y0,scale)]); d1=rms([v/s for v,s in zip(f0,scale)])
    h0=1e-6 if (d0<1e-5 or d1<1e-5) else 0.01*d0/d1
    y1=[y+h0*v for y,v in zip(y0,f0)]; f1=f(t0+h0,y1)
    d2=rms([(a-b)/s for a,b,s in zip(f1,f0,scale)])/h0
    h1=max(1e-6,h0*1e-3) if (d1<=1e-15 and d2<=1e-15) else (0.01/max(d1,d2))**(1/(order+1))
    return min(100*h0,h1)
def opt(h,err,order=5):
    if err==0: return h*10
    dfac=1.0 if err<1 else 0.2
    return h*min(10,max(0.9/err**(1/order),dfac))
y=[2.0,0.0]; t=0.0; T=25.0; f0=f(t,y); h=init_step(t,y,f0,4)
acc=rej=0
while T>t:
    k=[f0]
    for i in range(1,7):
        yi=[y[p]+h*sum(A[i][j]*k[j][p] for j in range(i)) for p in range(2)]
        ti=t+h if C[i]==1 else t+C[i]*h
        k.append(f(ti,yi))
    y1=yi
    err=[h*sum(E[j]*k[j][p] for j in range(7)) for p in range(2)]
    r=rms([e/(atol+rtol*max(abs(a),abs(b))) for e,a,b in zip(err,y,y1)])
    if r<=1: acc+=1; t=t+h; y=y1; f0=k[6]
    else: rej+=1
    h=opt(h,r)
print("torchdiffeq-style loop (no final clipping): accepted",acc,"rejected",rej)
